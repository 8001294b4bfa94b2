//! The local sandbox's simulated radio behind [`Radio`] and [`ProvLink`]: provisionable
//! simulated ESP devices (`companion_sandbox::radio`) reached through the same traits as BLE
//! and SoftAP, with the sandbox's link model (set-up time, latency per GATT operation, MTU,
//! drops).
//!
//! ```no_run
//! # async fn example(sandbox: &companion_sandbox::Sandbox) -> Result<(), companion_core::provision::TransportError> {
//! use std::time::Duration;
//! use companion_core::provision::Radio;
//! use companion_core::provision::simulated::SimulatedRadio;
//!
//! let radio = SimulatedRadio::new(sandbox.radio());
//! let found = radio.scan(Duration::from_secs(2)).await?;
//! let link = radio.connect(&found[0].id).await?;
//! let version = link.exchange("proto-ver", b"---".to_vec()).await?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use companion_sandbox::radio::{self as sim, LinkError};

use super::transport::{
    Discovered, ProvLink, Radio, TransportError, TransportFuture, TransportKind,
};

/// The sandbox's simulated radio as a [`Radio`].
#[derive(Debug, Clone)]
pub struct SimulatedRadio {
    radio: sim::SimulatedRadio,
}

impl SimulatedRadio {
    /// Wraps the sandbox's radio (`Sandbox::radio()`).
    pub fn new(radio: sim::SimulatedRadio) -> Self {
        Self { radio }
    }

    /// The simulated radio itself: to add devices, change the link model, inject drops, or
    /// watch a device's state.
    pub fn simulated(&self) -> &sim::SimulatedRadio {
        &self.radio
    }
}

impl Radio for SimulatedRadio {
    fn kind(&self) -> TransportKind {
        TransportKind::Simulated
    }

    fn scan(&self, window: Duration) -> TransportFuture<'_, Vec<Discovered>> {
        Box::pin(async move {
            let seen = self.radio.scan(window).await;
            Ok(seen
                .into_iter()
                .map(|ad| Discovered {
                    id: ad.id,
                    name: ad.name,
                    rssi: Some(ad.rssi),
                    kind: TransportKind::Simulated,
                })
                .collect())
        })
    }

    fn connect(&self, id: &str) -> TransportFuture<'_, Box<dyn ProvLink>> {
        let id = id.to_owned();
        Box::pin(async move {
            let link = self.radio.connect(&id).await.map_err(transport_error)?;
            Ok(Box::new(SimulatedLink { link }) as Box<dyn ProvLink>)
        })
    }
}

/// An open simulated link as a [`ProvLink`].
#[derive(Debug)]
pub struct SimulatedLink {
    link: sim::SimulatedLink,
}

impl SimulatedLink {
    /// The simulated link itself (its statistics: exchanges and GATT operations).
    pub fn simulated(&self) -> &sim::SimulatedLink {
        &self.link
    }
}

impl ProvLink for SimulatedLink {
    fn endpoints(&self) -> Vec<String> {
        self.link.endpoints()
    }

    fn exchange(&self, endpoint: &str, request: Vec<u8>) -> TransportFuture<'_, Vec<u8>> {
        let endpoint = endpoint.to_owned();
        Box::pin(async move {
            self.link
                .exchange(&endpoint, request)
                .await
                .map_err(transport_error)
        })
    }

    fn close(&self) -> TransportFuture<'_, ()> {
        Box::pin(async move {
            self.link.close().await;
            Ok(())
        })
    }
}

/// The transport error for a simulated-link error.
pub fn transport_error(error: LinkError) -> TransportError {
    match error {
        LinkError::NotFound(id) => TransportError::NotFound(id),
        LinkError::NoEndpoint(endpoint) => TransportError::NoEndpoint(endpoint),
        LinkError::Disconnected(reason) => TransportError::Disconnected(reason),
        busy @ LinkError::Busy(_) => {
            TransportError::Io(format!("{busy}; disconnect the other client and try again"))
        }
        refused @ (LinkError::HandlerFailed { .. } | LinkError::TooLong { .. }) => {
            TransportError::Io(refused.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_errors_map_to_the_transport_errors_the_flow_knows() {
        assert_eq!(
            transport_error(LinkError::Disconnected("gone".into())),
            TransportError::Disconnected("gone".into())
        );
        assert_eq!(
            transport_error(LinkError::NotFound("24:0A:C4:00:00:01".into())),
            TransportError::NotFound("24:0A:C4:00:00:01".into())
        );
        assert_eq!(
            transport_error(LinkError::NoEndpoint("aws-iot".into())),
            TransportError::NoEndpoint("aws-iot".into())
        );
        let refused = transport_error(LinkError::HandlerFailed {
            endpoint: "prov-session".into(),
        });
        assert!(
            matches!(&refused, TransportError::Io(m) if m.contains("ATT error 0x04")),
            "{refused:?}"
        );
    }
}
