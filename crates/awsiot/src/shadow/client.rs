//! The client side of the Shadow API: request messages and the topic filters to subscribe to
//! before publishing them (AWS asks clients not to subscribe to `.../shadow/#`).

use super::wire::{ClientTokenRequest, UpdateShadowRequest, encode};
use crate::topic::{ShadowKind, ShadowMessage, ShadowOperation, ShadowTopic};
use crate::{Outgoing, ThingName, Topic};

/// The filters the Python SDK V2 request/response client uses: `get/+` and `delete/+`, but
/// `update/accepted` and `update/rejected` explicitly so that delta and documents events are
/// not caught.
pub fn response_filters(thing: &ThingName, shadow: &ShadowKind) -> Vec<String> {
    let prefix = ShadowTopic::prefix(thing, shadow);
    ["get/+", "delete/+", "update/accepted", "update/rejected"]
        .iter()
        .map(|suffix| format!("{prefix}/{suffix}"))
        .collect()
}

/// The filters for the two event streams: `update/delta` and `update/documents`.
pub fn event_filters(thing: &ThingName, shadow: &ShadowKind) -> Vec<String> {
    let prefix = ShadowTopic::prefix(thing, shadow);
    vec![
        format!("{prefix}/update/delta"),
        format!("{prefix}/update/documents"),
    ]
}

/// A `/get` request carrying `client_token`.
pub fn get(thing: &ThingName, shadow: &ShadowKind, client_token: Option<String>) -> Outgoing {
    token_request(thing, shadow, ShadowOperation::Get, client_token)
}

/// A `/delete` request carrying `client_token`.
pub fn delete(thing: &ThingName, shadow: &ShadowKind, client_token: Option<String>) -> Outgoing {
    token_request(thing, shadow, ShadowOperation::Delete, client_token)
}

/// An `/update` request.
pub fn update(thing: &ThingName, shadow: &ShadowKind, request: &UpdateShadowRequest) -> Outgoing {
    Outgoing::new(
        &request_topic(thing, shadow, ShadowOperation::Update),
        encode(request),
    )
}

fn token_request(
    thing: &ThingName,
    shadow: &ShadowKind,
    operation: ShadowOperation,
    client_token: Option<String>,
) -> Outgoing {
    let payload = encode(&ClientTokenRequest { client_token });
    Outgoing::new(&request_topic(thing, shadow, operation), payload)
}

fn request_topic(thing: &ThingName, shadow: &ShadowKind, operation: ShadowOperation) -> Topic {
    Topic::Shadow(ShadowTopic::new(
        thing.clone(),
        shadow.clone(),
        ShadowMessage::Request(operation),
    ))
}
