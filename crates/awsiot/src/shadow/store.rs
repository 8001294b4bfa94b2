//! The Shadow service as a sans-IO machine: request publishes in, response publishes out.

use std::collections::BTreeMap;

use serde::Serialize;

use super::ShadowConfig;
use super::engine::{Shadow, UpdateOutcome};
use super::error::ShadowError;
use super::request::{parse_token_request, parse_update};
use super::wire::encode;
use crate::topic::{Outcome, ShadowKind, ShadowMessage, ShadowOperation, ShadowTopic};
use crate::{Outgoing, ThingName, Timestamp, Topic};

/// Identifies one shadow: the thing and classic-or-named.
pub type ShadowKey = (ThingName, ShadowKind);

/// A client's publish on a shadow request topic (`/get`, `/update` or `/delete`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowRequest {
    /// The thing from the topic.
    pub thing: ThingName,
    /// Classic or named, from the topic.
    pub shadow: ShadowKind,
    /// The operation, from the topic.
    pub operation: ShadowOperation,
    /// The raw payload bytes (validated by the engine, so that bad input gets AWS's rejection).
    pub payload: Vec<u8>,
}

impl ShadowRequest {
    /// Recognises a shadow request publish; `None` for any other topic (including the
    /// service's own response topics).
    pub fn from_publish(topic: &str, payload: &[u8]) -> Option<Self> {
        match Topic::parse(topic).ok()? {
            Topic::Shadow(ShadowTopic {
                thing,
                shadow,
                message: ShadowMessage::Request(operation),
            }) => Some(Self {
                thing,
                shadow,
                operation,
                payload: payload.to_vec(),
            }),
            _ => None,
        }
    }

    fn topic(&self, message: ShadowMessage) -> Topic {
        Topic::Shadow(ShadowTopic::new(
            self.thing.clone(),
            self.shadow.clone(),
            message,
        ))
    }

    /// The name AWS puts in a 404 message: the shadow name, or the thing name for a classic
    /// shadow.
    fn display_name(&self) -> &str {
        match &self.shadow {
            ShadowKind::Classic => self.thing.as_str(),
            ShadowKind::Named(name) => name.as_str(),
        }
    }
}

/// Every shadow of every thing, and the service logic that answers requests.
///
/// `handle` never fails: bad input becomes a rejection on the request's `rejected` topic, and
/// a rejected request leaves the store unchanged.
#[derive(Debug, Clone, Default)]
pub struct ShadowStore {
    config: ShadowConfig,
    shadows: BTreeMap<ShadowKey, Shadow>,
}

impl ShadowStore {
    /// An empty store with the given limits.
    pub fn new(config: ShadowConfig) -> Self {
        Self {
            config,
            shadows: BTreeMap::new(),
        }
    }

    /// The store's limits.
    pub fn config(&self) -> &ShadowConfig {
        &self.config
    }

    /// Handles a raw publish: `None` when the topic is not a shadow request topic.
    pub fn handle_publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        now: Timestamp,
    ) -> Option<Vec<Outgoing>> {
        ShadowRequest::from_publish(topic, payload).map(|request| self.handle(&request, now))
    }

    /// Answers one request at `now` with the messages AWS IoT Core would publish, in the order
    /// Greengrass publishes them: delta (if any), documents, then accepted; or one rejection.
    pub fn handle(&mut self, request: &ShadowRequest, now: Timestamp) -> Vec<Outgoing> {
        let result = match request.operation {
            ShadowOperation::Get => self.get(request, now),
            ShadowOperation::Update => self.update(request, now),
            ShadowOperation::Delete => self.delete(request, now),
        };
        result.unwrap_or_else(|error| {
            let topic = request.topic(ShadowMessage::Response(
                request.operation,
                Outcome::Rejected,
            ));
            vec![outgoing(&topic, &error.to_response(now.secs()))]
        })
    }

    /// One shadow, if the store has ever seen it (it may be deleted).
    pub fn shadow(&self, thing: &ThingName, shadow: &ShadowKind) -> Option<&Shadow> {
        self.shadows.get(&(thing.clone(), shadow.clone()))
    }

    /// Every shadow the store knows, for persistence or listing.
    pub fn shadows(&self) -> impl Iterator<Item = (&ShadowKey, &Shadow)> {
        self.shadows.iter()
    }

    /// Puts a shadow in the store (e.g. one restored from disk), replacing any other.
    pub fn insert(&mut self, key: ShadowKey, shadow: Shadow) {
        self.shadows.insert(key, shadow);
    }

    fn get(&self, request: &ShadowRequest, now: Timestamp) -> Result<Vec<Outgoing>, ShadowError> {
        let token = parse_token_request(&request.payload)?.client_token;
        let response = self
            .shadows
            .get(&key(request))
            .and_then(|s| s.get(token.clone(), now))
            .ok_or_else(|| {
                ShadowError::no_shadow(request.display_name()).with_client_token(token)
            })?;
        let topic = request.topic(ShadowMessage::Response(
            ShadowOperation::Get,
            Outcome::Accepted,
        ));
        Ok(vec![outgoing(&topic, &response)])
    }

    fn delete(
        &mut self,
        request: &ShadowRequest,
        now: Timestamp,
    ) -> Result<Vec<Outgoing>, ShadowError> {
        let token = parse_token_request(&request.payload)?.client_token;
        let response = self
            .shadows
            .get_mut(&key(request))
            .and_then(|s| s.delete(token.clone(), now))
            .ok_or_else(|| {
                ShadowError::no_shadow(request.display_name()).with_client_token(token)
            })?;
        let topic = request.topic(ShadowMessage::Response(
            ShadowOperation::Delete,
            Outcome::Accepted,
        ));
        Ok(vec![outgoing(&topic, &response)])
    }

    fn update(
        &mut self,
        request: &ShadowRequest,
        now: Timestamp,
    ) -> Result<Vec<Outgoing>, ShadowError> {
        let update = parse_update(&request.payload, &self.config)?;
        let shadow = self.shadows.entry(key(request)).or_default();
        let result = shadow.update(&update, &self.config, now);
        if !shadow.exists() && shadow.version() == 0 {
            // A first update that was rejected must not leave an entry behind.
            self.shadows.remove(&key(request));
        }
        Ok(update_messages(request, &result?))
    }
}

fn key(request: &ShadowRequest) -> ShadowKey {
    (request.thing.clone(), request.shadow.clone())
}

fn update_messages(request: &ShadowRequest, outcome: &UpdateOutcome) -> Vec<Outgoing> {
    let mut out = Vec::with_capacity(3);
    if let Some(delta) = &outcome.delta {
        out.push(outgoing(&request.topic(ShadowMessage::Delta), delta));
    }
    out.push(outgoing(
        &request.topic(ShadowMessage::Documents),
        &outcome.documents,
    ));
    let accepted = ShadowMessage::Response(ShadowOperation::Update, Outcome::Accepted);
    out.push(outgoing(&request.topic(accepted), &outcome.accepted));
    out
}

fn outgoing<T: Serialize>(topic: &Topic, payload: &T) -> Outgoing {
    Outgoing::new(topic, encode(payload))
}
