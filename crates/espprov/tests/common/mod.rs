//! Test support: random number generators that the tests control.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};

/// Hands out exactly the bytes it was given, in order, so that a golden vector's secrets are
/// what the code under test draws. Running out is a test bug, so it panics.
pub struct ScriptedRng(VecDeque<u8>);

impl ScriptedRng {
    pub fn new(parts: &[&[u8]]) -> Self {
        Self(parts.iter().flat_map(|part| part.iter().copied()).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryRng for ScriptedRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut bytes = [0; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut bytes = [0; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for byte in dst {
            *byte = self
                .0
                .pop_front()
                .expect("the test scripted too few random bytes");
        }
        Ok(())
    }
}

impl TryCryptoRng for ScriptedRng {}

/// A seeded ChaCha20 generator for property tests.
pub fn seeded(seed: u64) -> rand_chacha::ChaCha20Rng {
    use rand_core::SeedableRng;
    rand_chacha::ChaCha20Rng::seed_from_u64(seed)
}

/// Runs a whole handshake between a client and a device.
pub fn handshake<R: rand_core::CryptoRng>(
    client: &mut companion_espprov::Session,
    device: &mut companion_espprov::DeviceSession,
    rng: &mut R,
) -> Result<(), (&'static str, companion_espprov::Error)> {
    use companion_espprov::Step;
    let mut request = client.start().map_err(|e| ("client start", e))?;
    loop {
        let answer = device
            .handle_request(&request, rng)
            .map_err(|e| ("device", e))?;
        match client.handle_response(&answer).map_err(|e| ("client", e))? {
            Step::Send(next) => request = next,
            Step::Established => return Ok(()),
        }
    }
}
