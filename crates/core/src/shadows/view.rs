//! The local copy of a shadow and the pure rules over it: when an edit counts as applied,
//! when a later edit supersedes an earlier one, when a 409 hides our own earlier attempt.

use companion_awsiot::ThingName;
use companion_awsiot::shadow::document::{Document, delta, json_equal, merge};
use companion_awsiot::shadow::request::parse_update;
use companion_awsiot::shadow::wire::Nullable;
use companion_awsiot::shadow::{
    GetShadowResponse, Object, ShadowConfig, ShadowError, ShadowSnapshot,
};
use companion_awsiot::topic::ShadowKind;
use serde_json::Value;

/// A shadow document as the engine last saw it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ShadowView {
    /// The shadow's version.
    pub version: u64,
    /// The desired section (empty when absent).
    pub desired: Object,
    /// The reported section (empty when absent).
    pub reported: Object,
}

impl ShadowView {
    /// The view of a `/get/accepted` response.
    pub fn from_get(response: &GetShadowResponse) -> Self {
        Self {
            version: response.version,
            desired: response.state.desired.clone().unwrap_or_default(),
            reported: response.state.reported.clone().unwrap_or_default(),
        }
    }

    /// The view of one side of an `/update/documents` event.
    pub fn from_snapshot(snapshot: &ShadowSnapshot) -> Self {
        Self {
            version: snapshot.version,
            desired: snapshot.state.desired.clone().unwrap_or_default(),
            reported: snapshot.state.reported.clone().unwrap_or_default(),
        }
    }

    /// Desired keys that reported does not match (AWS's delta rules).
    pub fn delta(&self) -> Object {
        delta(&self.desired, &self.reported)
    }

    /// The document as JSON: `{"desired": {..}, "reported": {..}}`, for [`super::diff`].
    pub fn state_json(&self) -> Value {
        serde_json::json!({"desired": self.desired, "reported": self.reported})
    }
}

/// A change of a watched shadow, from an `/update/documents` event or a refresh.
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowChanged {
    /// The thing.
    pub thing: ThingName,
    /// Classic or named.
    pub shadow: ShadowKind,
    /// The document before, when known.
    pub previous: Option<ShadowView>,
    /// The document now.
    pub current: ShadowView,
    /// `current.version`, for convenience.
    pub version: u64,
}

/// Judges a desired-state patch as the Shadow service would before it is queued, so that a
/// bad edit is refused at once with AWS's code and message instead of failing later in the
/// outbox: it must be a JSON object without nulls in arrays, no deeper than the limit, and the
/// document it would produce from `current` must fit the size limit.
pub fn check_edit(
    patch: &Value,
    current: Option<&ShadowView>,
    config: &ShadowConfig,
) -> Result<Object, ShadowError> {
    let payload = serde_json::json!({ "state": { "desired": patch } });
    let request = parse_update(payload.to_string().as_bytes(), config)?;
    let desired = match request.state.map(|state| state.desired) {
        Some(Nullable::Value(desired)) => desired,
        // `parse_update` accepts a null section; an edit must be an object.
        _ => return Err(ShadowError::desired_not_object()),
    };
    let mut document = Document::default();
    if let Some(view) = current {
        document.desired = view.desired.clone();
        document.reported = view.reported.clone();
    }
    let mut metadata = Object::new();
    merge(&mut document.desired, &mut metadata, &desired, 0);
    if document.size() > config.max_document_bytes {
        return Err(ShadowError::payload_too_large());
    }
    Ok(desired)
}

/// Whether every key `patch` sets at the top level has the same desired value in `now` as in
/// `before` (absent in both counts as the same): nobody changed what the patch is about.
pub fn desired_untouched(patch: &Object, before: &Object, now: &Object) -> bool {
    patch
        .keys()
        .all(|key| match (before.get(key), now.get(key)) {
            (None, None) => true,
            (Some(a), Some(b)) => json_equal(a, b),
            _ => false,
        })
}

/// Whether the device reports what `patch` asked for: every leaf of the patch equals the
/// reported value at its path, and every `null` leaf (a deletion) is absent from reported.
pub fn reported_matches(patch: &Object, reported: &Object) -> bool {
    patch
        .iter()
        .all(|(key, wanted)| match (wanted, reported.get(key)) {
            (Value::Null, found) => found.is_none(),
            (Value::Object(inner), Some(Value::Object(have))) => reported_matches(inner, have),
            (_, Some(have)) => json_equal(wanted, have),
            (_, None) => false,
        })
}

/// Whether `patch`'s values are in `desired` (null leaves: absent).
pub fn desired_holds(patch: &Object, desired: &Object) -> bool {
    reported_matches(patch, desired)
}

/// Whether a shadow at `theirs` looks like our edit `patch` (based on `base`) was applied:
/// the version moved past the base and the desired section holds our values, or the device
/// has already taken them over into reported and cleared them from desired.
pub fn looks_applied(patch: &Object, base: u64, theirs: &ShadowView) -> bool {
    theirs.version > base
        && (desired_holds(patch, &theirs.desired)
            || (none_desired(patch, &theirs.desired) && reported_matches(patch, &theirs.reported)))
}

fn none_desired(patch: &Object, desired: &Object) -> bool {
    leaf_paths(patch)
        .iter()
        .all(|path| lookup(desired, path).is_none())
}

/// The paths of every leaf of `patch` (a leaf is a non-object value or an empty object).
pub fn leaf_paths(patch: &Object) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    collect_leaves(patch, &mut Vec::new(), &mut out);
    out
}

fn collect_leaves(object: &Object, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    for (key, value) in object {
        path.push(key.clone());
        match value {
            Value::Object(inner) if !inner.is_empty() => collect_leaves(inner, path, out),
            _ => out.push(path.clone()),
        }
        path.pop();
    }
}

fn lookup<'a>(object: &'a Object, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let value = object.get(first)?;
    match (rest.is_empty(), value) {
        (true, value) => Some(value),
        (false, Value::Object(inner)) => lookup(inner, rest),
        (false, _) => None,
    }
}

/// Whether every leaf `earlier` sets is also set by `later`: the later edit supersedes it.
pub fn superseded_by(earlier: &Object, later: &Object) -> bool {
    let later = leaf_paths(later);
    leaf_paths(earlier).iter().all(|path| later.contains(path))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> Object {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn reported_matches_only_the_keys_of_the_patch() {
        let patch = object(json!({"on": true, "color": {"r": 1}}));
        let reported = object(json!({"on": true, "color": {"r": 1.0, "g": 5}, "watts": 3}));
        assert!(
            reported_matches(&patch, &reported),
            "other keys do not matter"
        );
        let off = object(json!({"on": false, "color": {"r": 1}}));
        assert!(
            !reported_matches(&off, &reported),
            "a different value does not match"
        );
    }

    #[test]
    fn a_null_in_the_patch_matches_an_absent_key() {
        let patch = object(json!({"mode": null}));
        assert!(
            reported_matches(&patch, &Object::new()),
            "deleted keys are absent"
        );
        assert!(
            !reported_matches(&patch, &object(json!({"mode": "eco"}))),
            "a present key is not deleted"
        );
    }

    #[test]
    fn an_edit_taken_over_by_the_device_looks_applied() {
        let patch = object(json!({"on": true}));
        let theirs = ShadowView {
            version: 9,
            desired: Object::new(),
            reported: object(json!({"on": true})),
        };
        assert!(
            looks_applied(&patch, 7, &theirs),
            "reported holds it, desired cleared"
        );
        assert!(
            !looks_applied(&patch, 9, &theirs),
            "the version did not move past the base"
        );
        let other = ShadowView {
            desired: object(json!({"on": false})),
            ..theirs
        };
        assert!(
            !looks_applied(&patch, 7, &other),
            "someone else wants something else"
        );
    }

    #[test]
    fn a_later_edit_of_the_same_leaves_supersedes_an_earlier_one() {
        let earlier = object(json!({"color": {"r": 1}}));
        let later = object(json!({"color": {"r": 2}, "on": true}));
        assert!(
            superseded_by(&earlier, &later),
            "every earlier leaf is rewritten"
        );
        assert!(!superseded_by(&later, &earlier), "`on` is not rewritten");
    }
}
