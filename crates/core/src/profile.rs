//! Connection profiles: where to connect and with which credentials, as plain types.
//!
//! A [`Profile`] is what the user saves (serde: SQLite, the CLI's config). It never holds a
//! secret: private keys and passwords are referenced by their vault names, so a profile can be
//! shown, logged and exported. [`Profile::resolve`] turns it into a [`ConnectSpec`] — the
//! certificates and secrets loaded from the [`Vault`] — which is what
//! [`crate::session::Session::connect`] takes. A `ConnectSpec` cannot be serialized and its
//! `Debug` hides every secret.
//!
//! # Targets
//!
//! * [`AwsIot`]: an AWS IoT Core `-ats` data endpoint, with the three MQTT transports AWS offers
//!   (reference §4.1): mutual TLS on 8883, mutual TLS on 443 with ALPN `x-amzn-mqtt-ca`, and a
//!   custom authorizer on 443 with ALPN `mqtt`. MQTT over WebSockets (SigV4) is not offered.
//! * [`Mqtt`]: any MQTT broker (plain, server-authenticated TLS or mutual TLS, username and
//!   password).
//! * [`SandboxTarget`]: the local stand-in; its ports and CA exist only once it runs, so they
//!   are passed to [`Profile::resolve`] as [`SandboxEndpoints`].
//!
//! # MQTT versions
//!
//! The session speaks MQTT 3.1.1 only ([`Protocol::Mqtt311`]). rumqttc 0.25 has a `v5` module
//! with its own client and event loop, but it is not wired: MQTT 5 features (reason codes on
//! DISCONNECT such as 0x8E "session taken over", session expiry, topic aliases, user
//! properties) are therefore not available, and the connection doctor infers causes from
//! MQTT 3.1.1 behaviour instead (AWS closes the connection without a reason code).

use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};

use crate::vault::{Identity, IdentityRef, Sensitive, Vault, VaultError};

/// AWS IoT's longest client id, in bytes of UTF-8 (reference §4.4).
pub const AWS_MAX_CLIENT_ID_BYTES: usize = 128;
/// The MQTT 3.1.1 limit on a client id's length in bytes.
pub const MQTT_MAX_CLIENT_ID_BYTES: usize = 65_535;
/// The keepalive AWS IoT honours; outside it AWS silently uses 1200 s or 30 s (reference §4.4).
pub const AWS_KEEPALIVE_SECS: RangeInclusive<u16> = 30..=1200;
/// The keepalive range accepted for other brokers (rumqttc needs at least 5 s).
pub const MQTT_KEEPALIVE_SECS: RangeInclusive<u16> = 5..=u16::MAX;
/// The ALPN protocol for X.509 client certificates on port 443.
pub const ALPN_AWS_MTLS: &str = "x-amzn-mqtt-ca";
/// The ALPN protocol for custom authorizers on port 443.
pub const ALPN_MQTT: &str = "mqtt";

/// A saved connection: a target plus the MQTT session settings. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The name the user gave it.
    pub name: String,
    /// Where to connect and how to authenticate.
    pub target: Target,
    /// The MQTT client id; `None` for the default (see [`Profile::client_id`]).
    pub client_id: Option<String>,
    /// The thing this connection acts as, if any: the default client id on AWS.
    pub thing_name: Option<String>,
    /// Keepalive in seconds (AWS: 30-1200).
    pub keepalive_secs: u16,
    /// Clean or persistent session.
    pub session: SessionKind,
    /// The MQTT protocol version.
    pub protocol: Protocol,
}

/// Where a profile connects.
///
/// As JSON the sandbox's listener sits under its own key,
/// `{"kind":"sandbox","sandbox":{"kind":"plain"}}`: both enums are tagged with `kind`, so a
/// flat form would repeat the key and could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "TargetForm", from = "TargetForm")]
pub enum Target {
    /// An AWS IoT Core data endpoint.
    AwsIot(AwsIot),
    /// Any MQTT broker.
    Mqtt(Mqtt),
    /// The local sandbox.
    Sandbox(SandboxTarget),
}

/// [`Target`]'s JSON form (what the `profiles` table holds).
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum TargetForm {
    AwsIot(AwsIot),
    Mqtt(Mqtt),
    Sandbox { sandbox: SandboxTarget },
}

impl From<Target> for TargetForm {
    fn from(target: Target) -> Self {
        match target {
            Target::AwsIot(aws) => Self::AwsIot(aws),
            Target::Mqtt(mqtt) => Self::Mqtt(mqtt),
            Target::Sandbox(sandbox) => Self::Sandbox { sandbox },
        }
    }
}

impl From<TargetForm> for Target {
    fn from(form: TargetForm) -> Self {
        match form {
            TargetForm::AwsIot(aws) => Self::AwsIot(aws),
            TargetForm::Mqtt(mqtt) => Self::Mqtt(mqtt),
            TargetForm::Sandbox { sandbox } => Self::Sandbox(sandbox),
        }
    }
}

/// An AWS IoT Core account's data endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwsIot {
    /// `<prefix>-ats.iot.<region>.amazonaws.com` (`aws iot describe-endpoint --endpoint-type
    /// iot:Data-ATS`).
    pub endpoint: String,
    /// How to authenticate, which decides port and ALPN.
    pub transport: AwsTransport,
}

/// The MQTT transports of AWS IoT Core (reference §4.1). The identity lives in the mTLS
/// variants, so a custom authorizer with a client certificate cannot be written down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AwsTransport {
    /// X.509 client certificate on port 8883, no ALPN.
    Mtls8883 {
        /// The vault identity (certificate and key).
        identity: String,
    },
    /// X.509 client certificate on port 443 with ALPN `x-amzn-mqtt-ca` (through firewalls
    /// that only open 443).
    Mtls443Alpn {
        /// The vault identity (certificate and key).
        identity: String,
    },
    /// A custom authorizer on port 443 with ALPN `mqtt`; the token travels in the username.
    CustomAuthorizer443(CustomAuthorizer),
}

/// A custom authorizer's username parameters (reference §4.3):
/// `<username>?x-amz-customauthorizer-name=<authorizer>&<token_key_name>=<token>` plus
/// `&x-amz-customauthorizer-signature=<signature>` when signing is enabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomAuthorizer {
    /// The authorizer's name in AWS IoT.
    pub authorizer: String,
    /// The part of the username before `?` (may be empty).
    pub username: String,
    /// The query parameter that carries the token (the authorizer's `tokenKeyName`).
    pub token_key_name: String,
    /// The vault password name holding the token.
    pub token: String,
    /// The vault password name holding the token's signature, when the authorizer signs.
    pub signature: Option<String>,
    /// The vault password name of an MQTT password passed to the authorizer, if any.
    pub password: Option<String>,
}

/// Any MQTT broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mqtt {
    /// Host name or address; with TLS it must be in the server certificate.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Plain TCP, TLS or mutual TLS.
    pub tls: MqttTls,
    /// The MQTT username, if the broker wants one (not a secret).
    pub username: Option<String>,
    /// The vault password name, if the broker wants a password.
    pub password: Option<String>,
}

/// TLS for an MQTT broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MqttTls {
    /// Plain TCP.
    None,
    /// TLS; the broker proves who it is.
    ServerOnly {
        /// Which CA to trust.
        ca: CaSource,
        /// ALPN protocol to offer, if the broker needs one.
        alpn: Option<String>,
    },
    /// TLS with a client certificate.
    Mutual {
        /// Which CA to trust.
        ca: CaSource,
        /// The vault identity (certificate and key).
        identity: String,
        /// ALPN protocol to offer, if the broker needs one.
        alpn: Option<String>,
    },
}

/// Where the trusted CA certificates come from. CA certificates are public: inline is fine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum CaSource {
    /// The public web roots (Mozilla's list, built in).
    PublicRoots,
    /// PEM text of one or more CA certificates.
    Pem(String),
    /// A PEM file, read when the profile is resolved.
    File(PathBuf),
}

/// The local sandbox: which of its listeners to use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SandboxTarget {
    /// The plain listener (no authentication).
    Plain,
    /// The mutual-TLS listener with a vault identity issued by the sandbox's CA.
    Mtls {
        /// The vault identity.
        identity: String,
    },
}

/// Clean or persistent MQTT session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// `cleanSession=1`: the broker forgets subscriptions and queued messages on disconnect;
    /// the session subscribes again after each reconnect.
    Clean,
    /// `cleanSession=0`: the broker keeps subscriptions and QoS 1 messages (AWS: 1 h by
    /// default; the policy must allow `PersistentConnect`).
    Persistent,
}

/// The MQTT protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// MQTT 3.1.1, the only version the session speaks today.
    Mqtt311,
}

/// What the running sandbox offers, filled in at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxEndpoints {
    /// The plain listener (`127.0.0.1:<port>`).
    pub plain: std::net::SocketAddr,
    /// The mutual-TLS listener's port (host `localhost`), if it runs one.
    pub mtls_port: Option<u16>,
    /// The sandbox CA's PEM.
    pub ca_pem: String,
}

/// Why a profile cannot be used. Each message is a sentence that says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// The AWS endpoint is not an ATS data endpoint.
    #[error(
        "the endpoint \"{0}\" is not an AWS IoT ATS data endpoint: use the `<prefix>-ats.iot.<region>.amazonaws.com` address that `aws iot describe-endpoint --endpoint-type iot:Data-ATS` prints (legacy VeriSign endpoints and other endpoint types do not work with Amazon Root CA certificates)"
    )]
    NotAtsEndpoint(String),
    /// The host is empty or contains spaces or a scheme.
    #[error(
        "the host \"{0}\" is not a host name or address: give only the name, without a scheme, port or path"
    )]
    BadHost(String),
    /// The port is 0.
    #[error("the port must be between 1 and 65535")]
    BadPort,
    /// The client id is empty, too long or reserved.
    #[error("the client id {reason}")]
    BadClientId {
        /// Why, as the end of a sentence.
        reason: String,
    },
    /// The keepalive is outside what the broker honours.
    #[error("a keepalive of {secs} s is outside {min}-{max} s: {why}")]
    BadKeepalive {
        /// The keepalive asked for.
        secs: u16,
        /// The smallest allowed.
        min: u16,
        /// The largest allowed.
        max: u16,
        /// What the broker would do instead.
        why: &'static str,
    },
    /// A vault name, authorizer name or token key is empty.
    #[error("the {0} must not be empty")]
    Empty(&'static str),
    /// The sandbox is not running, or has no mTLS listener.
    #[error("the sandbox is not running{0}: start it first")]
    SandboxUnavailable(&'static str),
    /// The CA certificates could not be read.
    #[error("the CA certificates cannot be read: {0}")]
    BadCa(String),
    /// A secret could not be loaded from the vault.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl Profile {
    /// A profile with the defaults: default client id, 60 s keepalive, clean session, MQTT 3.1.1.
    pub fn new(name: impl Into<String>, target: Target) -> Self {
        Self {
            name: name.into(),
            target,
            client_id: None,
            thing_name: None,
            keepalive_secs: 60,
            session: SessionKind::Clean,
            protocol: Protocol::Mqtt311,
        }
    }

    /// The client id to use: the one set, else the thing name, else `companion-<16 hex>`
    /// from `random` (passed in so that tests are repeatable).
    pub fn client_id(&self, random: u64) -> String {
        self.client_id
            .clone()
            .or_else(|| self.thing_name.clone())
            .unwrap_or_else(|| format!("companion-{random:016x}"))
    }

    /// Whether AWS IoT's rules and limits apply (AWS targets and the sandbox, which mirrors AWS).
    pub fn is_aws_like(&self) -> bool {
        !matches!(self.target, Target::Mqtt(_))
    }

    /// Checks everything that can be checked without the vault or the network.
    pub fn validate(&self) -> Result<(), ProfileError> {
        self.target.validate()?;
        if let Some(id) = self.client_id.as_ref().or(self.thing_name.as_ref()) {
            check_client_id(id, self.is_aws_like())?;
        }
        check_keepalive(self.keepalive_secs, self.is_aws_like())
    }

    /// Validates, then loads certificates and secrets: the [`ConnectSpec`] for a session.
    /// `sandbox` is needed for a sandbox target only.
    pub fn resolve(
        &self,
        vault: &Vault,
        sandbox: Option<&SandboxEndpoints>,
    ) -> Result<ConnectSpec, ProfileError> {
        self.validate()?;
        let (address, tls, credentials) = self.target.resolve(vault, sandbox)?;
        Ok(ConnectSpec {
            host: address.0,
            port: address.1,
            client_id: self.client_id(rand::random()),
            keepalive: Duration::from_secs(u64::from(self.keepalive_secs)),
            clean_session: self.session == SessionKind::Clean,
            tls,
            credentials,
            limits: if self.is_aws_like() {
                Limits::aws()
            } else {
                Limits::mqtt()
            },
        })
    }
}

/// Host and port.
type Address = (String, u16);

impl Target {
    fn validate(&self) -> Result<(), ProfileError> {
        match self {
            Self::AwsIot(aws) => aws.validate(),
            Self::Mqtt(mqtt) => mqtt.validate(),
            Self::Sandbox(SandboxTarget::Plain) => Ok(()),
            Self::Sandbox(SandboxTarget::Mtls { identity }) => non_empty(identity, "identity name"),
        }
    }

    fn resolve(
        &self,
        vault: &Vault,
        sandbox: Option<&SandboxEndpoints>,
    ) -> Result<(Address, Option<TlsSpec>, Option<Credentials>), ProfileError> {
        match self {
            Self::AwsIot(aws) => aws.resolve(vault),
            Self::Mqtt(mqtt) => mqtt.resolve(vault),
            Self::Sandbox(target) => {
                let endpoints = sandbox.ok_or(ProfileError::SandboxUnavailable(""))?;
                resolve_sandbox(target, endpoints, vault)
            }
        }
    }
}

impl AwsIot {
    /// The TCP port of this transport.
    pub fn port(&self) -> u16 {
        match self.transport {
            AwsTransport::Mtls8883 { .. } => 8883,
            _ => 443,
        }
    }

    /// The ALPN protocol this transport needs, if any.
    pub fn alpn(&self) -> Option<&'static str> {
        match self.transport {
            AwsTransport::Mtls8883 { .. } => None,
            AwsTransport::Mtls443Alpn { .. } => Some(ALPN_AWS_MTLS),
            AwsTransport::CustomAuthorizer443(_) => Some(ALPN_MQTT),
        }
    }

    fn validate(&self) -> Result<(), ProfileError> {
        check_ats_endpoint(&self.endpoint)?;
        match &self.transport {
            AwsTransport::Mtls8883 { identity } | AwsTransport::Mtls443Alpn { identity } => {
                non_empty(identity, "identity name")
            }
            AwsTransport::CustomAuthorizer443(auth) => auth.validate(),
        }
    }

    fn resolve(
        &self,
        vault: &Vault,
    ) -> Result<(Address, Option<TlsSpec>, Option<Credentials>), ProfileError> {
        let (identity, credentials) = match &self.transport {
            AwsTransport::Mtls8883 { identity } | AwsTransport::Mtls443Alpn { identity } => {
                (Some(load_identity(vault, identity)?), None)
            }
            AwsTransport::CustomAuthorizer443(auth) => (None, Some(auth.credentials(vault)?)),
        };
        let tls = TlsSpec {
            roots: amazon_roots(),
            identity,
            alpn: self.alpn().map(str::to_owned),
        };
        Ok(((self.endpoint.clone(), self.port()), Some(tls), credentials))
    }
}

impl CustomAuthorizer {
    fn validate(&self) -> Result<(), ProfileError> {
        non_empty(&self.authorizer, "authorizer name")?;
        non_empty(&self.token_key_name, "token key name")?;
        non_empty(&self.token, "token's vault name")
    }

    /// The MQTT username with the authorizer's query parameters (reference §4.3).
    fn username(&self, token: &str, signature: Option<&str>) -> String {
        let mut username = format!(
            "{}?x-amz-customauthorizer-name={}&{}={}",
            self.username,
            percent_encode(&self.authorizer),
            percent_encode(&self.token_key_name),
            percent_encode(token)
        );
        if let Some(signature) = signature {
            username.push_str("&x-amz-customauthorizer-signature=");
            username.push_str(&percent_encode(signature));
        }
        username
    }

    fn credentials(&self, vault: &Vault) -> Result<Credentials, ProfileError> {
        let token = vault.load_password(&self.token)?;
        let signature = self
            .signature
            .as_deref()
            .map(|name| vault.load_password(name))
            .transpose()?;
        let username = self.username(
            token.expose(),
            signature.as_ref().map(|s| s.expose().as_str()),
        );
        let password = self
            .password
            .as_deref()
            .map(|name| vault.load_password(name))
            .transpose()?;
        Ok(Credentials {
            username: Sensitive::new(username),
            password,
        })
    }
}

impl Mqtt {
    fn validate(&self) -> Result<(), ProfileError> {
        check_host(&self.host)?;
        if self.port == 0 {
            return Err(ProfileError::BadPort);
        }
        if let MqttTls::Mutual { identity, .. } = &self.tls {
            non_empty(identity, "identity name")?;
        }
        Ok(())
    }

    fn resolve(
        &self,
        vault: &Vault,
    ) -> Result<(Address, Option<TlsSpec>, Option<Credentials>), ProfileError> {
        let tls = match &self.tls {
            MqttTls::None => None,
            MqttTls::ServerOnly { ca, alpn } => Some(TlsSpec {
                roots: ca.load()?,
                identity: None,
                alpn: alpn.clone(),
            }),
            MqttTls::Mutual { ca, identity, alpn } => Some(TlsSpec {
                roots: ca.load()?,
                identity: Some(load_identity(vault, identity)?),
                alpn: alpn.clone(),
            }),
        };
        Ok((
            (self.host.clone(), self.port),
            tls,
            self.credentials(vault)?,
        ))
    }

    fn credentials(&self, vault: &Vault) -> Result<Option<Credentials>, ProfileError> {
        if self.username.is_none() && self.password.is_none() {
            return Ok(None);
        }
        let password = self
            .password
            .as_deref()
            .map(|name| vault.load_password(name))
            .transpose()?;
        Ok(Some(Credentials {
            username: Sensitive::new(self.username.clone().unwrap_or_default()),
            password,
        }))
    }
}

impl CaSource {
    /// The trusted roots as DER certificates.
    pub fn load(&self) -> Result<Roots, ProfileError> {
        match self {
            Self::PublicRoots => Ok(Roots::Public),
            Self::Pem(pem) => parse_roots(pem.as_bytes()),
            Self::File(path) => {
                let bytes = std::fs::read(path).map_err(|e| {
                    ProfileError::BadCa(format!("{} cannot be read ({e})", path.display()))
                })?;
                parse_roots(&bytes)
            }
        }
    }
}

fn resolve_sandbox(
    target: &SandboxTarget,
    endpoints: &SandboxEndpoints,
    vault: &Vault,
) -> Result<(Address, Option<TlsSpec>, Option<Credentials>), ProfileError> {
    match target {
        SandboxTarget::Plain => Ok((
            (endpoints.plain.ip().to_string(), endpoints.plain.port()),
            None,
            None,
        )),
        SandboxTarget::Mtls { identity } => {
            let port = endpoints.mtls_port.ok_or(ProfileError::SandboxUnavailable(
                " with a mutual-TLS listener",
            ))?;
            let tls = TlsSpec {
                roots: parse_roots(endpoints.ca_pem.as_bytes())?,
                identity: Some(load_identity(vault, identity)?),
                alpn: None,
            };
            Ok((("localhost".to_owned(), port), Some(tls), None))
        }
    }
}

/// A profile resolved for one connection: address, client id, TLS material and secrets.
/// Not serializable; `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct ConnectSpec {
    /// Host name or address (with TLS, the name checked against the server certificate).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The MQTT client id.
    pub client_id: String,
    /// How often the client pings an idle connection.
    pub keepalive: Duration,
    /// `cleanSession` in CONNECT.
    pub clean_session: bool,
    /// TLS settings, or `None` for plain TCP.
    pub tls: Option<TlsSpec>,
    /// Username and password, if any.
    pub credentials: Option<Credentials>,
    /// The limits checked before anything is sent.
    pub limits: Limits,
}

impl ConnectSpec {
    /// Plain TCP to `host:port` as `client_id`, with a 30 s keepalive, a clean session and the
    /// generic MQTT limits; adjust the fields for anything else.
    pub fn plain(host: impl Into<String>, port: u16, client_id: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port,
            client_id: client_id.into(),
            keepalive: Duration::from_secs(30),
            clean_session: true,
            tls: None,
            credentials: None,
            limits: Limits::mqtt(),
        }
    }

    /// Whether an ALPN protocol is offered.
    pub fn offers_alpn(&self) -> bool {
        self.tls.as_ref().is_some_and(|tls| tls.alpn.is_some())
    }
}

/// TLS material for one connection.
#[derive(Debug, Clone)]
pub struct TlsSpec {
    /// Which CAs to trust.
    pub roots: Roots,
    /// The client certificate and key, for mutual TLS.
    pub identity: Option<Arc<Identity>>,
    /// The ALPN protocol to offer.
    pub alpn: Option<String>,
}

/// Trusted root certificates.
#[derive(Debug, Clone)]
pub enum Roots {
    /// Mozilla's public roots.
    Public,
    /// Amazon Root CA 1-4 only (AWS IoT ATS endpoints).
    Amazon,
    /// These CA certificates (DER).
    Certificates(Vec<CertificateDer<'static>>),
}

impl Roots {
    /// Roots from PEM text.
    pub fn from_pem(pem: &str) -> Result<Self, ProfileError> {
        parse_roots(pem.as_bytes())
    }

    /// A rustls root store of these certificates.
    pub fn store(&self) -> Result<rustls::RootCertStore, ProfileError> {
        match self {
            Self::Public => Ok(rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            }),
            Self::Amazon => Ok(rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS
                    .iter()
                    .filter(|anchor| is_amazon_root(anchor))
                    .cloned()
                    .collect(),
            }),
            Self::Certificates(certificates) => {
                let mut store = rustls::RootCertStore::empty();
                for certificate in certificates {
                    store
                        .add(certificate.clone())
                        .map_err(|e| ProfileError::BadCa(e.to_string()))?;
                }
                Ok(store)
            }
        }
    }
}

/// MQTT username and password. `Debug` shows neither: a custom authorizer's token travels in
/// the username.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The username (may carry a token).
    pub username: Sensitive<String>,
    /// The password, if any.
    pub password: Option<Sensitive<String>>,
}

/// The limits checked before a PUBLISH or SUBSCRIBE leaves: AWS IoT's (reference §4.6), or
/// MQTT's own for other brokers. A packet over a limit would make AWS drop the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest payload in bytes.
    pub max_payload_bytes: usize,
    /// Longest topic in bytes of UTF-8.
    pub max_topic_bytes: usize,
    /// Most `/` in a topic or filter (AWS: 7), not counting a Basic Ingest or `$share` prefix.
    pub max_slashes: Option<usize>,
    /// Most filters in one SUBSCRIBE (AWS: 8).
    pub max_filters_per_subscribe: Option<usize>,
    /// Whether QoS 2 is allowed (AWS: no).
    pub qos2: bool,
}

impl Limits {
    /// AWS IoT Core's message-broker limits: 128 KB payload, 256-byte topics, 7 slashes,
    /// 8 filters per SUBSCRIBE, QoS 0 and 1.
    pub const fn aws() -> Self {
        Self {
            max_payload_bytes: 128 * 1024,
            max_topic_bytes: 256,
            max_slashes: Some(7),
            max_filters_per_subscribe: Some(8),
            qos2: false,
        }
    }

    /// MQTT 3.1.1's own limits (a packet of at most 256 MB, topics of 65535 bytes). The
    /// session caps payloads at 16 MB to bound memory.
    pub const fn mqtt() -> Self {
        Self {
            max_payload_bytes: 16 * 1024 * 1024,
            max_topic_bytes: 65_535,
            max_slashes: None,
            max_filters_per_subscribe: None,
            qos2: true,
        }
    }
}

fn load_identity(vault: &Vault, name: &str) -> Result<Arc<Identity>, ProfileError> {
    let identity = vault.describe_identity(name)?;
    Ok(Arc::new(vault.load_identity(&identity)?))
}

/// Amazon Root CA 1-4 from the public roots: what ATS endpoints chain to (reference §4.1).
pub fn amazon_roots() -> Roots {
    Roots::Amazon
}

fn is_amazon_root(anchor: &rustls::pki_types::TrustAnchor<'_>) -> bool {
    let needle = b"Amazon Root CA ";
    anchor
        .subject
        .as_ref()
        .windows(needle.len())
        .any(|window| window == needle)
}

fn parse_roots(pem: &[u8]) -> Result<Roots, ProfileError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ProfileError::BadCa(e.to_string()))?;
    if certificates.is_empty() {
        return Err(ProfileError::BadCa(
            "no CERTIFICATE block was found in the PEM text".to_owned(),
        ));
    }
    Ok(Roots::Certificates(certificates))
}

/// Checks an AWS IoT data endpoint: `<prefix>-ats.iot.<region>.amazonaws.com` (or `.cn`).
pub fn check_ats_endpoint(endpoint: &str) -> Result<(), ProfileError> {
    check_host(endpoint)?;
    let labels: Vec<&str> = endpoint.split('.').collect();
    let ats = labels
        .first()
        .is_some_and(|l| l.ends_with("-ats") && l.len() > 4);
    let iot = labels.get(1) == Some(&"iot");
    let amazon = endpoint.ends_with(".amazonaws.com") || endpoint.ends_with(".amazonaws.com.cn");
    if ats && iot && labels.len() >= 5 && amazon {
        Ok(())
    } else {
        Err(ProfileError::NotAtsEndpoint(endpoint.to_owned()))
    }
}

fn check_host(host: &str) -> Result<(), ProfileError> {
    let bad = |c: char| c.is_whitespace() || matches!(c, '/' | '?' | '#' | '@');
    if host.is_empty() || host.contains("://") || host.chars().any(bad) {
        return Err(ProfileError::BadHost(host.to_owned()));
    }
    Ok(())
}

/// Checks a client id: MQTT's length limit, and on AWS (and the sandbox) 128 bytes, no `$`
/// prefix (reserved for ids AWS assigns) and no `+` or `#` (AWS sends no lifecycle events for
/// those).
pub fn check_client_id(id: &str, aws: bool) -> Result<(), ProfileError> {
    let bad = |reason: String| Err(ProfileError::BadClientId { reason });
    if id.is_empty() {
        return bad(
            "must not be empty: leave it unset to use the thing name or a generated id".into(),
        );
    }
    if !aws {
        if id.len() > MQTT_MAX_CLIENT_ID_BYTES {
            return bad(format!(
                "is {} bytes long: MQTT allows at most {MQTT_MAX_CLIENT_ID_BYTES}",
                id.len()
            ));
        }
        return Ok(());
    }
    if id.len() > AWS_MAX_CLIENT_ID_BYTES {
        return bad(format!(
            "is {} bytes long: AWS IoT allows at most {AWS_MAX_CLIENT_ID_BYTES} bytes of UTF-8",
            id.len()
        ));
    }
    if id.starts_with('$') {
        return bad("starts with '$', which AWS IoT reserves for the ids it assigns itself".into());
    }
    if companion_awsiot::names::ClientId::new(id).is_err() {
        return bad("contains '+' or '#': AWS IoT publishes no lifecycle events for such ids, so the fleet view could not see it".into());
    }
    Ok(())
}

/// Checks a keepalive against what the broker honours.
pub fn check_keepalive(secs: u16, aws: bool) -> Result<(), ProfileError> {
    let (range, why) = if aws {
        (
            AWS_KEEPALIVE_SECS,
            "AWS IoT would treat 1-29 s as 30 s and 0 or more than 1200 s as 1200 s",
        )
    } else {
        (
            MQTT_KEEPALIVE_SECS,
            "the session needs at least 5 s between pings",
        )
    };
    if range.contains(&secs) {
        return Ok(());
    }
    Err(ProfileError::BadKeepalive {
        secs,
        min: *range.start(),
        max: *range.end(),
        why,
    })
}

fn non_empty(value: &str, what: &'static str) -> Result<(), ProfileError> {
    if value.trim().is_empty() {
        Err(ProfileError::Empty(what))
    } else {
        Ok(())
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for query parameters).
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The identity names a profile refers to (for preflight checks and the UI).
pub fn identity_names(profile: &Profile) -> Vec<&str> {
    match &profile.target {
        Target::AwsIot(AwsIot {
            transport: AwsTransport::Mtls8883 { identity } | AwsTransport::Mtls443Alpn { identity },
            ..
        })
        | Target::Mqtt(Mqtt {
            tls: MqttTls::Mutual { identity, .. },
            ..
        })
        | Target::Sandbox(SandboxTarget::Mtls { identity }) => vec![identity.as_str()],
        _ => Vec::new(),
    }
}

/// The identity a profile names, looked up among `identities` (from SQLite or the vault).
pub fn find_identity<'a>(identities: &'a [IdentityRef], name: &str) -> Option<&'a IdentityRef> {
    identities.iter().find(|identity| identity.name == name)
}

#[cfg(test)]
mod tests;
