//! [`MemoryStore`]: an in-memory [`SecretStore`] for tests only.

use std::collections::HashMap;
use std::sync::Mutex;

use zeroize::Zeroizing;

use super::Sensitive;
use super::store::{SecretStore, StoreError, VaultBackend};

/// Secrets by (service, account), wiped when removed or dropped.
type Entries = HashMap<(String, String), Zeroizing<Vec<u8>>>;

/// Keeps secrets in a map in memory and wipes them when dropped. For unit tests, and for tests
/// of other crates through the `memory-store` feature; the app never uses it.
#[derive(Default)]
pub struct MemoryStore {
    entries: Mutex<Entries>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &self.len())
            .finish()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many secrets the store holds (tests check that nothing is left behind).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the store holds no secret.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding the lock cannot leave the map half-written: recover it.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn key(service: &str, account: &str) -> (String, String) {
    (service.to_owned(), account.to_owned())
}

impl SecretStore for MemoryStore {
    fn store(&self, service: &str, account: &str, secret: &[u8]) -> Result<(), StoreError> {
        self.lock()
            .insert(key(service, account), Zeroizing::new(secret.to_vec()));
        Ok(())
    }

    fn load(&self, service: &str, account: &str) -> Result<Sensitive<Vec<u8>>, StoreError> {
        let entries = self.lock();
        let secret = entries
            .get(&key(service, account))
            .ok_or(StoreError::NoEntry)?;
        Ok(Sensitive::new(secret.to_vec()))
    }

    fn remove(&self, service: &str, account: &str) -> Result<(), StoreError> {
        self.lock()
            .remove(&key(service, account))
            .map(drop)
            .ok_or(StoreError::NoEntry)
    }

    fn backend(&self) -> VaultBackend {
        VaultBackend::Memory
    }
}
