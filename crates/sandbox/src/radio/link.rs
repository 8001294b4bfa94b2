//! The simulated BLE link: connection set-up time, a latency per GATT operation, the ATT MTU
//! (long writes and long reads cost more operations), the 512-byte attribute limit, and drops
//! (random, or injected at a chosen exchange).
//!
//! One exchange is what ESP-IDF's protocomm does over BLE: the client writes the request to the
//! endpoint's characteristic (write with response; a prepared "long" write when it does not fit
//! one ATT PDU), the device runs the endpoint's handler, and the client reads the answer back
//! (a read, then read-blob requests while the value fills whole PDUs).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::RngExt;
use tokio::sync::Mutex as AsyncMutex;

use super::SharedRng;
use super::device::{Device, Outcome};

/// The ATT protocol's largest attribute value: a longer request cannot be written and a longer
/// answer cannot be read.
pub const MAX_ATTRIBUTE_LEN: usize = 512;

/// The smallest ATT MTU (BLE 4.0 without an MTU exchange).
pub const MIN_MTU: u16 = 23;

/// How the simulated link behaves. Times go through tokio, so tests may pause the clock.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkModel {
    /// From `connect` to a usable link (connection, MTU exchange, service discovery).
    pub connect_time: Duration,
    /// One GATT operation: a write request, a prepare/execute write, a read or a read-blob.
    pub op_latency: Duration,
    /// The negotiated ATT MTU (at least [`MIN_MTU`]; phones typically get 185 or 517).
    pub mtu: u16,
    /// The chance, from 0 to 1, that an exchange drops the link before the device sees the
    /// request. Drawn from the radio's seeded random source.
    pub drop_rate: f64,
}

impl Default for LinkModel {
    /// Small but not zero, so that ordering bugs show and tests stay fast: 30 ms to connect,
    /// 5 ms per GATT operation, MTU 185, no random drops.
    fn default() -> Self {
        Self {
            connect_time: Duration::from_millis(30),
            op_latency: Duration::from_millis(5),
            mtu: 185,
            drop_rate: 0.0,
        }
    }
}

impl LinkModel {
    /// No delays at all (MTU 185, no drops).
    pub fn instant() -> Self {
        Self {
            connect_time: Duration::ZERO,
            op_latency: Duration::ZERO,
            ..Self::default()
        }
    }

    /// The benchmark link of the provisioning issue: 30 ms per GATT operation, MTU 185.
    pub fn benchmark() -> Self {
        Self {
            op_latency: Duration::from_millis(30),
            ..Self::default()
        }
    }

    fn mtu(&self) -> usize {
        usize::from(self.mtu.max(MIN_MTU))
    }

    /// GATT operations to write `len` bytes with response: one write request when the value
    /// fits one PDU (MTU − 3), else prepare writes of MTU − 5 bytes each and an execute write.
    pub fn write_ops(&self, len: usize) -> u32 {
        let mtu = self.mtu();
        if len <= mtu - 3 {
            1
        } else {
            count(len.div_ceil(mtu - 5)) + 1
        }
    }

    /// GATT operations to read `len` bytes: a read returns up to MTU − 1 bytes, and while a PDU
    /// comes back full the client asks for the next part with a read blob.
    pub fn read_ops(&self, len: usize) -> u32 {
        count(len / (self.mtu() - 1)) + 1
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Where an injected drop happens within its exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DropPoint {
    /// The write never reaches the device: it does nothing.
    #[default]
    BeforeDelivery,
    /// The device handles the request, but the link drops before the answer is read.
    AfterDelivery,
}

/// A drop to inject: the `occurrence`-th exchange (1 = the next one) on `endpoint` (any
/// endpoint when `None`) from the moment it is armed, counted across reconnections. It fires
/// once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DropRule {
    /// The endpoint, or any.
    pub endpoint: Option<String>,
    /// Which matching exchange, from 1.
    pub occurrence: u32,
    /// Before or after the device handles it.
    pub point: DropPoint,
}

impl DropRule {
    /// The `occurrence`-th exchange on `endpoint`, dropped before the device sees it.
    pub fn on(endpoint: &str, occurrence: u32) -> Self {
        Self {
            endpoint: Some(endpoint.to_owned()),
            occurrence,
            point: DropPoint::BeforeDelivery,
        }
    }

    /// The next exchange on any endpoint, dropped before the device sees it.
    pub fn next_exchange() -> Self {
        Self {
            endpoint: None,
            occurrence: 1,
            point: DropPoint::BeforeDelivery,
        }
    }

    /// The same rule, dropping after the device handled the request.
    pub fn after_delivery(mut self) -> Self {
        self.point = DropPoint::AfterDelivery;
        self
    }

    pub(crate) fn matches(&self, endpoint: &str) -> bool {
        self.endpoint.as_deref().is_none_or(|e| e == endpoint)
    }
}

/// Why a radio operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// No device with this id advertises (unknown, out of range, or done provisioning).
    #[error("no device {0} is advertising")]
    NotFound(String),
    /// The device already has a connection (it stops advertising while connected).
    #[error("the device {0} is connected to another client")]
    Busy(String),
    /// The device has no characteristic for this endpoint.
    #[error("the device does not offer the endpoint \"{0}\"")]
    NoEndpoint(String),
    /// The link is gone.
    #[error("the link dropped: {0}")]
    Disconnected(String),
    /// The endpoint's handler failed and the device answered the write with an ATT error
    /// (NimBLE's `BLE_ATT_ERR_INVALID_PDU`, 0x04), as ESP-IDF does for a failed handshake step
    /// (a wrong PoP or password), an undecryptable request or bytes it cannot decode.
    #[error(
        "the device refused the write to \"{endpoint}\" with ATT error 0x04: its handler failed"
    )]
    HandlerFailed {
        /// The endpoint written.
        endpoint: String,
    },
    /// The value exceeds the 512-byte attribute limit.
    #[error("{len} bytes on \"{endpoint}\" exceed the 512-byte attribute limit")]
    TooLong {
        /// The endpoint.
        endpoint: String,
        /// The value's length.
        len: usize,
    },
}

/// What one link has carried so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkStats {
    /// Request/response exchanges completed.
    pub exchanges: u32,
    /// GATT operations (writes, prepare/execute writes, reads, read blobs) they took.
    pub gatt_ops: u32,
    /// Request bytes written.
    pub bytes_written: usize,
    /// Answer bytes read.
    pub bytes_read: usize,
}

/// The shared end of one link: whoever drops it first records why.
#[derive(Debug, Default)]
pub(crate) struct LinkShared {
    closed: Mutex<Option<String>>,
}

impl LinkShared {
    pub(crate) fn close(&self, reason: &str) {
        let mut closed = self.closed.lock().unwrap_or_else(PoisonError::into_inner);
        if closed.is_none() {
            *closed = Some(reason.to_owned());
        }
    }

    pub(crate) fn closed(&self) -> Option<String> {
        self.closed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// An open link to one simulated device, from [`super::SimulatedRadio::connect`].
///
/// Exchanges are strictly sequential (a second caller waits for the first), as GATT
/// operations on one connection are. Dropping the link disconnects it.
#[derive(Debug)]
pub struct SimulatedLink {
    device: Arc<Device>,
    shared: Arc<LinkShared>,
    model: LinkModel,
    endpoints: Vec<String>,
    ops: AsyncMutex<LinkStats>,
    rng: SharedRng,
}

impl SimulatedLink {
    pub(crate) fn new(
        device: Arc<Device>,
        shared: Arc<LinkShared>,
        model: LinkModel,
        rng: SharedRng,
    ) -> Self {
        let endpoints = device.endpoints();
        Self {
            device,
            shared,
            model,
            endpoints,
            ops: AsyncMutex::new(LinkStats::default()),
            rng,
        }
    }

    /// The device's id.
    pub fn device_id(&self) -> &str {
        self.device.id()
    }

    /// The endpoint names the device offers, in characteristic order (`prov-ctrl`,
    /// `prov-scan`, `prov-session`, `prov-config`, `proto-ver`, then custom ones such as
    /// `aws-iot`).
    pub fn endpoints(&self) -> Vec<String> {
        self.endpoints.clone()
    }

    /// The link model in force on this link.
    pub fn model(&self) -> &LinkModel {
        &self.model
    }

    /// What the link carried so far.
    pub async fn stats(&self) -> LinkStats {
        *self.ops.lock().await
    }

    /// Whether the link is still up.
    pub fn is_open(&self) -> bool {
        self.shared.closed().is_none()
    }

    /// Writes `request` to `endpoint`, lets the device handle it, and reads its answer.
    pub async fn exchange(&self, endpoint: &str, request: Vec<u8>) -> Result<Vec<u8>, LinkError> {
        let mut stats = self.ops.lock().await;
        self.check_open()?;
        if !self.endpoints.iter().any(|e| e == endpoint) {
            return Err(LinkError::NoEndpoint(endpoint.to_owned()));
        }
        if request.len() > MAX_ATTRIBUTE_LEN {
            return Err(LinkError::TooLong {
                endpoint: endpoint.to_owned(),
                len: request.len(),
            });
        }
        let write_ops = self.model.write_ops(request.len());
        tokio::time::sleep(self.model.op_latency * write_ops).await;
        self.check_open()?;
        let injected = self.device.arm_drop(endpoint);
        let random = self.random_drop();
        if injected == Some(DropPoint::BeforeDelivery) || random {
            let reason = if random {
                "a random drop of the simulated link"
            } else {
                "an injected drop before the device received the write"
            };
            return Err(self.drop_now(reason));
        }
        let handled = self.device.handle(&self.shared, endpoint, &request);
        if !handled.delay.is_zero() {
            tokio::time::sleep(handled.delay).await;
        }
        let answer = match handled.outcome {
            Outcome::Answer(answer) => answer,
            Outcome::Refused(error) => return Err(error),
            Outcome::Dropped(reason) => return Err(self.drop_now(&reason)),
        };
        if answer.len() > MAX_ATTRIBUTE_LEN {
            return Err(LinkError::TooLong {
                endpoint: endpoint.to_owned(),
                len: answer.len(),
            });
        }
        let read_ops = self.model.read_ops(answer.len());
        tokio::time::sleep(self.model.op_latency * read_ops).await;
        if injected == Some(DropPoint::AfterDelivery) {
            return Err(self.drop_now("an injected drop before the answer was read"));
        }
        self.check_open()?;
        stats.exchanges += 1;
        stats.gatt_ops += write_ops + read_ops;
        stats.bytes_written += request.len();
        stats.bytes_read += answer.len();
        if let Some(reason) = handled.drop_after {
            self.device.release_link(&self.shared, &reason);
        }
        Ok(answer)
    }

    /// Disconnects; later exchanges fail with [`LinkError::Disconnected`].
    pub async fn close(&self) {
        let _serialized = self.ops.lock().await;
        self.device
            .release_link(&self.shared, "closed by the client");
    }

    fn random_drop(&self) -> bool {
        let rate = self.model.drop_rate;
        rate > 0.0
            && self
                .rng
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .random_bool(rate.min(1.0))
    }

    fn check_open(&self) -> Result<(), LinkError> {
        match self.shared.closed() {
            Some(reason) => Err(LinkError::Disconnected(reason)),
            None => Ok(()),
        }
    }

    fn drop_now(&self, reason: &str) -> LinkError {
        self.device.release_link(&self.shared, reason);
        LinkError::Disconnected(self.shared.closed().unwrap_or_else(|| reason.to_owned()))
    }
}

impl Drop for SimulatedLink {
    fn drop(&mut self) {
        self.device
            .release_link(&self.shared, "the client dropped the link");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_take_one_operation_each_way() {
        let model = LinkModel::default();
        assert_eq!(model.write_ops(0), 1);
        assert_eq!(model.write_ops(182), 1, "MTU 185 − 3");
        assert_eq!(model.read_ops(0), 1);
        assert_eq!(model.read_ops(183), 1, "MTU 185 − 1, not full");
    }

    #[test]
    fn long_values_take_prepared_writes_and_read_blobs() {
        let model = LinkModel::default();
        // 183 bytes: two prepare writes of up to 180 bytes, then the execute write.
        assert_eq!(model.write_ops(183), 3);
        assert_eq!(model.write_ops(360), 3);
        assert_eq!(model.write_ops(361), 4);
        // A full first PDU (184 bytes) makes the client ask for more.
        assert_eq!(model.read_ops(184), 2);
        assert_eq!(model.read_ops(512), 3);
        let small = LinkModel {
            mtu: 1,
            ..LinkModel::default()
        };
        assert_eq!(small.write_ops(20), 1, "an MTU below 23 counts as 23");
        assert_eq!(small.write_ops(21), 3);
    }

    #[test]
    fn drop_rules_match_their_endpoint_or_any() {
        assert!(DropRule::on("prov-config", 1).matches("prov-config"));
        assert!(!DropRule::on("prov-config", 1).matches("prov-scan"));
        assert!(DropRule::next_exchange().matches("aws-iot"));
        assert_eq!(
            DropRule::next_exchange().after_delivery().point,
            DropPoint::AfterDelivery
        );
    }
}
