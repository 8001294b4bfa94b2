//! Builders and parsers for AWS IoT Core's reserved topics.
//!
//! [`Topic::parse`] turns a topic string into a typed value; `Display` (`to_string`) renders
//! the exact string back. Both directions validate names, so `parse(t.to_string()) == t` for
//! every typed topic `t` (a property test checks this).

use std::fmt;
use std::str::FromStr;

use crate::{ClientId, Error, JobId, ShadowName, TemplateName, ThingName};

/// Whether a response topic carries an accepted or a rejected response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// `.../accepted`
    Accepted,
    /// `.../rejected`
    Rejected,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
        }
    }

    fn parse(segment: &str) -> Option<Self> {
        match segment {
            "accepted" => Some(Self::Accepted),
            "rejected" => Some(Self::Rejected),
            _ => None,
        }
    }
}

/// Any reserved topic this crate understands.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    /// `$aws/things/{thing}/shadow/...`
    Shadow(ShadowTopic),
    /// `$aws/things/{thing}/jobs/...`
    Jobs(JobsTopic),
    /// `$aws/certificates/...` and `$aws/provisioning-templates/...`
    Provisioning(ProvisioningTopic),
    /// `$aws/events/presence/...` and `$aws/events/subscriptions/...`
    Lifecycle(LifecycleTopic),
}

impl Topic {
    /// Parses a topic string; `Err(Error::UnknownTopic)` for anything that is not a reserved
    /// topic of the four APIs (including ordinary application topics).
    pub fn parse(topic: &str) -> Result<Self, Error> {
        let unknown = || Error::UnknownTopic(topic.to_owned());
        let segments: Vec<&str> = topic.split('/').collect();
        match segments.as_slice() {
            ["$aws", "things", thing, "shadow", rest @ ..] => {
                ShadowTopic::parse(thing, rest).map(Self::Shadow)
            }
            ["$aws", "things", thing, "jobs", rest @ ..] => {
                JobsTopic::parse(thing, rest).map(Self::Jobs)
            }
            ["$aws", "certificates", ..] | ["$aws", "provisioning-templates", ..] => {
                ProvisioningTopic::parse(&segments[1..]).map(Self::Provisioning)
            }
            ["$aws", "events", kind, event, ..] => {
                LifecycleTopic::parse(kind, event, topic).map(Self::Lifecycle)
            }
            _ => Err(unknown()),
        }
        .map_err(|e| match e {
            Error::UnknownTopic(_) => unknown(),
            other => other,
        })
    }
}

impl FromStr for Topic {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Shadow(t) => t.fmt(f),
            Self::Jobs(t) => t.fmt(f),
            Self::Provisioning(t) => t.fmt(f),
            Self::Lifecycle(t) => t.fmt(f),
        }
    }
}

/// The error used while parsing sub-topics; `Topic::parse` fills in the full topic string.
fn unknown() -> Error {
    Error::UnknownTopic(String::new())
}

// ---------------------------------------------------------------------------------------------
// Shadows

/// Which shadow of a thing: the classic (unnamed) one or a named one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ShadowKind {
    /// The classic shadow, `$aws/things/{thing}/shadow`.
    Classic,
    /// A named shadow, `$aws/things/{thing}/shadow/name/{name}`.
    Named(ShadowName),
}

/// The three shadow operations a client can request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShadowOperation {
    /// `/get`: read the whole document.
    Get,
    /// `/update`: create or merge.
    Update,
    /// `/delete`: delete the document (the version is kept).
    Delete,
}

impl ShadowOperation {
    fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }

    fn parse(segment: &str) -> Option<Self> {
        match segment {
            "get" => Some(Self::Get),
            "update" => Some(Self::Update),
            "delete" => Some(Self::Delete),
            _ => None,
        }
    }
}

/// What a shadow topic carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShadowMessage {
    /// A client's request, e.g. `.../update`.
    Request(ShadowOperation),
    /// The service's response, e.g. `.../update/accepted`.
    Response(ShadowOperation, Outcome),
    /// `.../update/delta`: the desired-vs-reported difference after an accepted update.
    Delta,
    /// `.../update/documents`: previous and current documents after an accepted update.
    Documents,
}

/// A topic of the Device Shadow service (reference §1.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShadowTopic {
    /// The thing the shadow belongs to.
    pub thing: ThingName,
    /// Classic or named shadow.
    pub shadow: ShadowKind,
    /// Which request, response or event.
    pub message: ShadowMessage,
}

impl ShadowTopic {
    /// A shadow topic for `thing`'s `shadow` carrying `message`.
    pub fn new(thing: ThingName, shadow: ShadowKind, message: ShadowMessage) -> Self {
        Self {
            thing,
            shadow,
            message,
        }
    }

    /// The topic prefix shared by all of this shadow's topics, e.g. for subscription filters
    /// such as `{prefix}/get/+`.
    pub fn prefix(thing: &ThingName, shadow: &ShadowKind) -> String {
        match shadow {
            ShadowKind::Classic => format!("$aws/things/{thing}/shadow"),
            ShadowKind::Named(name) => format!("$aws/things/{thing}/shadow/name/{name}"),
        }
    }

    fn parse(thing: &str, rest: &[&str]) -> Result<Self, Error> {
        let thing = ThingName::new(thing)?;
        let (shadow, suffix) = match rest {
            ["name", name, suffix @ ..] => (ShadowKind::Named(ShadowName::new(*name)?), suffix),
            suffix => (ShadowKind::Classic, suffix),
        };
        let message = Self::parse_suffix(suffix).ok_or_else(unknown)?;
        Ok(Self {
            thing,
            shadow,
            message,
        })
    }

    fn parse_suffix(suffix: &[&str]) -> Option<ShadowMessage> {
        match suffix {
            [op] => ShadowOperation::parse(op).map(ShadowMessage::Request),
            ["update", "delta"] => Some(ShadowMessage::Delta),
            ["update", "documents"] => Some(ShadowMessage::Documents),
            [op, outcome] => Some(ShadowMessage::Response(
                ShadowOperation::parse(op)?,
                Outcome::parse(outcome)?,
            )),
            _ => None,
        }
    }
}

impl fmt::Display for ShadowTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&Self::prefix(&self.thing, &self.shadow))?;
        match self.message {
            ShadowMessage::Request(op) => write!(f, "/{}", op.as_str()),
            ShadowMessage::Response(op, outcome) => {
                write!(f, "/{}/{}", op.as_str(), outcome.as_str())
            }
            ShadowMessage::Delta => f.write_str("/update/delta"),
            ShadowMessage::Documents => f.write_str("/update/documents"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Jobs

/// The job a DescribeJobExecution request is about: a job id or `$next`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobTarget {
    /// `$next`: the next pending execution (IN_PROGRESS first, then QUEUED).
    Next,
    /// A specific job.
    Id(JobId),
}

impl JobTarget {
    fn parse(segment: &str) -> Result<Self, Error> {
        if segment == "$next" {
            Ok(Self::Next)
        } else {
            JobId::new(segment).map(Self::Id)
        }
    }
}

impl fmt::Display for JobTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Next => f.write_str("$next"),
            Self::Id(id) => id.fmt(f),
        }
    }
}

/// The four request/response APIs of the Jobs device MQTT API (reference §2.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobsApi {
    /// `jobs/get`: GetPendingJobExecutions.
    GetPending,
    /// `jobs/start-next`: StartNextPendingJobExecution.
    StartNext,
    /// `jobs/{jobId}/get`: DescribeJobExecution (`jobId` may be `$next`).
    Describe(JobTarget),
    /// `jobs/{jobId}/update`: UpdateJobExecution.
    Update(JobId),
}

/// What a jobs topic carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobsMessage {
    /// A device's request.
    Request(JobsApi),
    /// The service's response.
    Response(JobsApi, Outcome),
    /// `jobs/notify`: JobExecutionsChanged.
    Notify,
    /// `jobs/notify-next`: NextJobExecutionChanged.
    NotifyNext,
}

/// A topic of the Jobs device MQTT API.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JobsTopic {
    /// The thing whose executions these are.
    pub thing: ThingName,
    /// Which request, response or notification.
    pub message: JobsMessage,
}

impl JobsTopic {
    /// A jobs topic for `thing` carrying `message`.
    pub fn new(thing: ThingName, message: JobsMessage) -> Self {
        Self { thing, message }
    }

    fn parse(thing: &str, rest: &[&str]) -> Result<Self, Error> {
        let thing = ThingName::new(thing)?;
        let message = match rest {
            ["notify"] => JobsMessage::Notify,
            ["notify-next"] => JobsMessage::NotifyNext,
            [api @ .., last] => match Outcome::parse(last) {
                Some(outcome) => JobsMessage::Response(Self::parse_api(api)?, outcome),
                None => JobsMessage::Request(Self::parse_api(rest)?),
            },
            [] => return Err(unknown()),
        };
        Ok(Self { thing, message })
    }

    fn parse_api(api: &[&str]) -> Result<JobsApi, Error> {
        match api {
            ["get"] => Ok(JobsApi::GetPending),
            ["start-next"] => Ok(JobsApi::StartNext),
            [job, "get"] => JobTarget::parse(job).map(JobsApi::Describe),
            [job, "update"] => JobId::new(*job).map(JobsApi::Update),
            _ => Err(unknown()),
        }
    }

    fn api_path(api: &JobsApi) -> String {
        match api {
            JobsApi::GetPending => "get".to_owned(),
            JobsApi::StartNext => "start-next".to_owned(),
            JobsApi::Describe(target) => format!("{target}/get"),
            JobsApi::Update(id) => format!("{id}/update"),
        }
    }
}

impl fmt::Display for JobsTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "$aws/things/{}/jobs/", self.thing)?;
        match &self.message {
            JobsMessage::Request(api) => f.write_str(&Self::api_path(api)),
            JobsMessage::Response(api, outcome) => {
                write!(f, "{}/{}", Self::api_path(api), outcome.as_str())
            }
            JobsMessage::Notify => f.write_str("notify"),
            JobsMessage::NotifyNext => f.write_str("notify-next"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fleet provisioning

/// The payload format of a fleet provisioning call, chosen by the topic's last request level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadFormat {
    /// `.../json`
    Json,
    /// `.../cbor`
    Cbor,
}

impl PayloadFormat {
    fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Cbor => "cbor",
        }
    }

    fn parse(segment: &str) -> Option<Self> {
        match segment {
            "json" => Some(Self::Json),
            "cbor" => Some(Self::Cbor),
            _ => None,
        }
    }
}

/// The three fleet provisioning APIs (reference §3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProvisioningApi {
    /// `$aws/certificates/create/{fmt}`
    CreateKeysAndCertificate,
    /// `$aws/certificates/create-from-csr/{fmt}`
    CreateCertificateFromCsr,
    /// `$aws/provisioning-templates/{templateName}/provision/{fmt}`
    RegisterThing(TemplateName),
}

/// A fleet provisioning topic: a request (`response == None`) or its accepted/rejected reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProvisioningTopic {
    /// Which API.
    pub api: ProvisioningApi,
    /// JSON or CBOR payloads.
    pub format: PayloadFormat,
    /// `None` for the request topic, `Some(outcome)` for a response topic.
    pub response: Option<Outcome>,
}

impl ProvisioningTopic {
    /// A provisioning topic.
    pub fn new(api: ProvisioningApi, format: PayloadFormat, response: Option<Outcome>) -> Self {
        Self {
            api,
            format,
            response,
        }
    }

    /// Parses the segments after `$aws/`.
    fn parse(segments: &[&str]) -> Result<Self, Error> {
        let (api, rest) = match segments {
            ["certificates", "create", rest @ ..] => {
                (ProvisioningApi::CreateKeysAndCertificate, rest)
            }
            ["certificates", "create-from-csr", rest @ ..] => {
                (ProvisioningApi::CreateCertificateFromCsr, rest)
            }
            ["provisioning-templates", name, "provision", rest @ ..] => (
                ProvisioningApi::RegisterThing(TemplateName::new(*name)?),
                rest,
            ),
            _ => return Err(unknown()),
        };
        let (format, response) = match rest {
            [format] => (PayloadFormat::parse(format), None),
            [format, outcome] => (
                PayloadFormat::parse(format),
                Some(Outcome::parse(outcome).ok_or_else(unknown)?),
            ),
            _ => return Err(unknown()),
        };
        Ok(Self {
            api,
            format: format.ok_or_else(unknown)?,
            response,
        })
    }
}

impl fmt::Display for ProvisioningTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.api {
            ProvisioningApi::CreateKeysAndCertificate => {
                f.write_str("$aws/certificates/create/")?;
            }
            ProvisioningApi::CreateCertificateFromCsr => {
                f.write_str("$aws/certificates/create-from-csr/")?;
            }
            ProvisioningApi::RegisterThing(name) => {
                write!(f, "$aws/provisioning-templates/{name}/provision/")?;
            }
        }
        f.write_str(self.format.as_str())?;
        match self.response {
            Some(outcome) => write!(f, "/{}", outcome.as_str()),
            None => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lifecycle events

/// The kind of a lifecycle event (reference §4.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleEventKind {
    /// `$aws/events/presence/connected/{clientId}`
    Connected,
    /// `$aws/events/presence/disconnected/{clientId}`
    Disconnected,
    /// `$aws/events/presence/connect_failed/{clientId}`
    ConnectFailed,
    /// `$aws/events/subscriptions/subscribed/{clientId}`
    Subscribed,
    /// `$aws/events/subscriptions/unsubscribed/{clientId}`
    Unsubscribed,
}

impl LifecycleEventKind {
    /// The `eventType` value in the payload, which is also the topic level.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Disconnected => "disconnected",
            Self::ConnectFailed => "connect_failed",
            Self::Subscribed => "subscribed",
            Self::Unsubscribed => "unsubscribed",
        }
    }

    fn group(self) -> &'static str {
        match self {
            Self::Connected | Self::Disconnected | Self::ConnectFailed => "presence",
            Self::Subscribed | Self::Unsubscribed => "subscriptions",
        }
    }

    fn parse(group: &str, event: &str) -> Option<Self> {
        match (group, event) {
            ("presence", "connected") => Some(Self::Connected),
            ("presence", "disconnected") => Some(Self::Disconnected),
            ("presence", "connect_failed") => Some(Self::ConnectFailed),
            ("subscriptions", "subscribed") => Some(Self::Subscribed),
            ("subscriptions", "unsubscribed") => Some(Self::Unsubscribed),
            _ => None,
        }
    }
}

/// A lifecycle event topic: the event kind and the client it is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LifecycleTopic {
    /// Which event.
    pub event: LifecycleEventKind,
    /// The client id; everything after the event level (it may contain `/`).
    pub client_id: ClientId,
}

impl LifecycleTopic {
    /// A lifecycle topic.
    pub fn new(event: LifecycleEventKind, client_id: ClientId) -> Self {
        Self { event, client_id }
    }

    fn parse(group: &str, event: &str, topic: &str) -> Result<Self, Error> {
        let event = LifecycleEventKind::parse(group, event).ok_or_else(unknown)?;
        let prefix_len = format!("$aws/events/{group}/{}/", event.as_str()).len();
        let client_id = topic.get(prefix_len..).ok_or_else(unknown)?;
        Ok(Self {
            event,
            client_id: ClientId::new(client_id)?,
        })
    }
}

impl fmt::Display for LifecycleTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let event = self.event;
        write!(
            f,
            "$aws/events/{}/{}/{}",
            event.group(),
            event.as_str(),
            self.client_id
        )
    }
}

macro_rules! impl_from_topic {
    ($($variant:ident($ty:ty)),*) => {$(
        impl From<$ty> for Topic {
            fn from(topic: $ty) -> Self {
                Self::$variant(topic)
            }
        }
    )*};
}

impl_from_topic!(
    Shadow(ShadowTopic),
    Jobs(JobsTopic),
    Provisioning(ProvisioningTopic),
    Lifecycle(LifecycleTopic)
);
