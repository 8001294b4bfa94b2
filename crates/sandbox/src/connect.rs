//! How a client of the sandbox's broker reaches it: plain TCP on loopback, or mutual TLS with an
//! identity issued by the sandbox's CA.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, EventLoop, MqttOptions, TlsConfiguration, Transport};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Where a broker listens and how to authenticate to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address; with TLS it must match the server certificate (`localhost` or
    /// `127.0.0.1` for the sandbox).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Mutual TLS, or `None` for plain TCP.
    pub tls: Option<TlsIdentity>,
}

/// PEM material for a mutual-TLS connection.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsIdentity {
    /// The CA that signed the server's certificate.
    pub ca_pem: String,
    /// The client's certificate (chain).
    pub cert_pem: String,
    /// The client's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: String,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Why connection options could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// A PEM block could not be read.
    #[error("cannot read the {what} PEM: {reason}")]
    Pem {
        /// Which PEM (CA, certificate, key).
        what: &'static str,
        /// The parser's reason.
        reason: String,
    },
    /// rustls refused the configuration (for example a key that does not match).
    #[error("the TLS configuration is invalid: {0}")]
    Tls(#[from] rustls::Error),
}

/// MQTT 3.1.1 options for `client_id` reaching `endpoint`, with a 30 s keepalive and a clean
/// session.
pub fn mqtt_options(client_id: &str, endpoint: &Endpoint) -> Result<MqttOptions, ConnectError> {
    let mut options = MqttOptions::new(client_id, endpoint.host.clone(), endpoint.port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(256 * 1024, 256 * 1024);
    if let Some(identity) = &endpoint.tls {
        let config = client_tls_config(identity)?;
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(config),
        )));
    }
    Ok(options)
}

/// A client and its event loop for `client_id` reaching `endpoint` (see [`mqtt_options`]),
/// with TCP_NODELAY: without it, Nagle's algorithm holds a QoS 1 publish that follows a
/// PUBACK for the peer's delayed ACK, about 40 ms per round trip on Linux loopback.
pub fn client(
    client_id: &str,
    endpoint: &Endpoint,
    capacity: usize,
) -> Result<(AsyncClient, EventLoop), ConnectError> {
    from_options(mqtt_options(client_id, endpoint)?, capacity)
}

/// [`client`] from options the caller adjusted.
pub fn from_options(
    options: MqttOptions,
    capacity: usize,
) -> Result<(AsyncClient, EventLoop), ConnectError> {
    let (client, mut eventloop) = AsyncClient::new(options, capacity);
    eventloop.network_options.set_tcp_nodelay(true);
    Ok((client, eventloop))
}

/// A rustls client configuration (ring provider) trusting `identity.ca_pem` and presenting the
/// identity's certificate and key.
pub fn client_tls_config(identity: &TlsIdentity) -> Result<rustls::ClientConfig, ConnectError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(identity.ca_pem.as_bytes()) {
        roots.add(cert.map_err(|e| pem_error("CA", &e))?)?;
    }
    let chain = CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error("certificate", &e))?;
    let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes())
        .map_err(|e| pem_error("private key", &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)?;
    Ok(config)
}

fn pem_error(what: &'static str, error: &rustls::pki_types::pem::Error) -> ConnectError {
    ConnectError::Pem {
        what,
        reason: error.to_string(),
    }
}
