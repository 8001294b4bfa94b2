//! The pure parts of the shadow engine: merging, metadata, delta, equality, depth and size.
//!
//! Everything here works on JSON objects and a timestamp; nothing knows about topics or
//! versions. The rules are those of reference §1.3-§1.5.

use serde_json::{Map, Value, json};

use super::wire::{Object, ShadowSections};

/// A shadow's stored content: the two sections and their per-field timestamps.
///
/// An empty section means "absent": AWS removes a section that becomes empty.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document {
    /// The desired section.
    pub desired: Object,
    /// The reported section.
    pub reported: Object,
    /// Timestamps mirroring `desired`.
    pub desired_metadata: Object,
    /// Timestamps mirroring `reported`.
    pub reported_metadata: Object,
}

impl Document {
    /// The current delta: desired keys that reported does not match (empty when in sync).
    pub fn delta(&self) -> Object {
        delta(&self.desired, &self.reported)
    }

    /// Desired's timestamps restricted to the keys of `delta`.
    pub fn delta_metadata(&self, delta: &Object) -> Object {
        project_metadata(&self.desired_metadata, delta)
    }

    /// The two sections, each absent when empty.
    pub fn state_sections(&self) -> ShadowSections {
        sections(&self.desired, &self.reported)
    }

    /// The two metadata sections, each absent when empty.
    pub fn metadata_sections(&self) -> ShadowSections {
        sections(&self.desired_metadata, &self.reported_metadata)
    }

    /// The size AWS limits: compact JSON bytes of desired plus reported (metadata excluded).
    ///
    /// Choice: the reference says "counted over the stored desired + reported JSON"; this
    /// counts each non-empty section's compact serialisation and adds them.
    pub fn size(&self) -> usize {
        section_size(&self.desired) + section_size(&self.reported)
    }
}

fn sections(desired: &Object, reported: &Object) -> ShadowSections {
    let non_empty = |m: &Object| (!m.is_empty()).then(|| m.clone());
    ShadowSections {
        desired: non_empty(desired),
        reported: non_empty(reported),
    }
}

fn section_size(section: &Object) -> usize {
    if section.is_empty() {
        0
    } else {
        serde_json::to_vec(section).map_or(0, |v| v.len())
    }
}

/// The metadata of one value: `{"timestamp": t}` for a scalar or null, an array of those per
/// element for an array, and an object mirroring the keys for an object.
pub fn value_metadata(value: &Value, secs: u64) -> Value {
    match value {
        Value::Object(map) => Value::Object(object_metadata(map, secs)),
        Value::Array(items) => Value::Array(items.iter().map(|_| leaf_stamp(secs)).collect()),
        _ => leaf_stamp(secs),
    }
}

/// The metadata of every key of `map` (see [`value_metadata`]).
pub fn object_metadata(map: &Object, secs: u64) -> Object {
    map.iter()
        .map(|(k, v)| (k.clone(), value_metadata(v, secs)))
        .collect()
}

fn leaf_stamp(secs: u64) -> Value {
    json!({ "timestamp": secs })
}

/// Merges `patch` into `state` recursively and keeps `metadata` mirroring it.
///
/// `null` deletes a key (and its metadata); an object is merged key by key into the stored
/// object (a stored non-object is replaced); an object that ends up empty is removed; arrays
/// and scalars replace the stored value whole and get fresh timestamps.
pub fn merge(state: &mut Object, metadata: &mut Object, patch: &Object, secs: u64) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                state.remove(key);
                metadata.remove(key);
            }
            Value::Object(sub_patch) => merge_object(state, metadata, key, sub_patch, secs),
            leaf => {
                state.insert(key.clone(), leaf.clone());
                metadata.insert(key.clone(), value_metadata(leaf, secs));
            }
        }
    }
}

fn merge_object(state: &mut Object, metadata: &mut Object, key: &str, patch: &Object, secs: u64) {
    // Metadata of a stored scalar is itself an object ({"timestamp": t}); only reuse stored
    // metadata when the stored value was an object too.
    let (mut sub_state, mut sub_meta) = match (state.remove(key), metadata.remove(key)) {
        (Some(Value::Object(s)), Some(Value::Object(m))) => (s, m),
        (Some(Value::Object(s)), _) => (s, Map::new()),
        _ => (Map::new(), Map::new()),
    };
    merge(&mut sub_state, &mut sub_meta, patch, secs);
    if !sub_state.is_empty() {
        state.insert(key.to_owned(), Value::Object(sub_state));
        metadata.insert(key.to_owned(), Value::Object(sub_meta));
    }
}

/// The delta of `desired` against `reported` (reference §1.4): every desired key whose value
/// reported does not have or does not equal; objects recurse so that only differing leaves
/// appear with their full path; arrays and scalars appear whole.
pub fn delta(desired: &Object, reported: &Object) -> Object {
    let mut out = Map::new();
    for (key, want) in desired {
        match (want, reported.get(key)) {
            (Value::Object(want_map), Some(Value::Object(have_map))) => {
                let sub = delta(want_map, have_map);
                if !sub.is_empty() {
                    out.insert(key.clone(), Value::Object(sub));
                }
            }
            (want, Some(have)) if json_equal(want, have) => {}
            (want, _) => {
                out.insert(key.clone(), want.clone());
            }
        }
    }
    out
}

/// `metadata` restricted to the shape of `delta`.
fn project_metadata(metadata: &Object, delta: &Object) -> Object {
    let mut out = Map::new();
    for (key, value) in delta {
        let projected = match (value, metadata.get(key)) {
            (Value::Object(sub), Some(Value::Object(meta))) => {
                Value::Object(project_metadata(meta, sub))
            }
            (_, Some(meta)) => meta.clone(),
            (_, None) => continue,
        };
        out.insert(key.clone(), projected);
    }
    out
}

/// JSON equality with numbers compared numerically, so that `1` equals `1.0` (Greengrass
/// does the same, reference §1.4).
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| json_equal(x, y))
        }
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .all(|(k, x)| ys.get(k).is_some_and(|y| json_equal(x, y)))
        }
        _ => a == b,
    }
}

fn numbers_equal(x: &serde_json::Number, y: &serde_json::Number) -> bool {
    if let (Some(a), Some(b)) = (x.as_i64(), y.as_i64()) {
        return a == b;
    }
    if let (Some(a), Some(b)) = (x.as_u64(), y.as_u64()) {
        return a == b;
    }
    match (x.as_f64(), y.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The nesting depth of a value as Greengrass counts it: a scalar adds nothing, an object or
/// array is one level plus its deepest child. So `{"a":1}` has depth 1 and the `desired`
/// object itself is level 1 (reference §1.8).
///
/// Choice: the reference does not say whether arrays count; they are containers in JSON, so
/// they count as a level here.
pub fn depth(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// True when some array anywhere inside `value` has a `null` element (AWS rejects those:
/// null inside an array cannot mean "delete").
pub fn has_null_in_array(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.values().any(has_null_in_array),
        Value::Array(items) => items.iter().any(|v| v.is_null() || has_null_in_array(v)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Object {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn null_deletes_a_key_and_its_metadata() {
        let mut state = obj(json!({"a": 1, "b": 2}));
        let mut meta = object_metadata(&state, 10);
        merge(&mut state, &mut meta, &obj(json!({"a": null})), 20);
        assert_eq!(Value::Object(state), json!({"b": 2}));
        assert_eq!(Value::Object(meta), json!({"b": {"timestamp": 10}}));
    }

    #[test]
    fn objects_that_become_empty_disappear() {
        let mut state = obj(json!({"light": {"on": true}, "x": 1}));
        let mut meta = object_metadata(&state, 10);
        merge(
            &mut state,
            &mut meta,
            &obj(json!({"light": {"on": null}, "new": {}})),
            20,
        );
        assert_eq!(Value::Object(state), json!({"x": 1}));
        assert_eq!(Value::Object(meta), json!({"x": {"timestamp": 10}}));
    }

    #[test]
    fn merging_keeps_untouched_keys_and_their_timestamps() {
        let mut state = obj(json!({"light": {"on": true, "level": 3}}));
        let mut meta = object_metadata(&state, 10);
        merge(
            &mut state,
            &mut meta,
            &obj(json!({"light": {"level": 5}})),
            20,
        );
        assert_eq!(
            Value::Object(state),
            json!({"light": {"on": true, "level": 5}})
        );
        assert_eq!(
            Value::Object(meta),
            json!({"light": {"on": {"timestamp": 10}, "level": {"timestamp": 20}}})
        );
    }

    #[test]
    fn an_object_replacing_a_scalar_gets_fresh_metadata() {
        let mut state = obj(json!({"mode": "auto"}));
        let mut meta = object_metadata(&state, 10);
        merge(
            &mut state,
            &mut meta,
            &obj(json!({"mode": {"timestamp": 1}})),
            20,
        );
        assert_eq!(
            Value::Object(meta),
            json!({"mode": {"timestamp": {"timestamp": 20}}})
        );
    }

    #[test]
    fn arrays_are_replaced_whole_with_one_timestamp_per_element() {
        let mut state = obj(json!({"rgb": [1, 2, 3]}));
        let mut meta = object_metadata(&state, 10);
        merge(&mut state, &mut meta, &obj(json!({"rgb": [9, 8]})), 20);
        assert_eq!(Value::Object(state), json!({"rgb": [9, 8]}));
        assert_eq!(
            Value::Object(meta),
            json!({"rgb": [{"timestamp": 20}, {"timestamp": 20}]})
        );
    }

    #[test]
    fn the_delta_lists_every_out_of_sync_desired_leaf_with_its_path() {
        let desired = obj(json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1], "f": "x", "g": 1}));
        let reported = obj(json!({"a": 1.0, "b": {"c": 2, "d": 4}, "e": [1, 2], "h": 5}));
        assert_eq!(
            Value::Object(delta(&desired, &reported)),
            json!({"b": {"d": 3}, "e": [1], "f": "x", "g": 1})
        );
    }

    #[test]
    fn the_delta_is_all_of_desired_when_nothing_is_reported() {
        let desired = obj(json!({"a": {"b": 1}}));
        assert_eq!(delta(&desired, &Map::new()), desired);
    }

    #[test]
    fn numbers_are_compared_numerically() {
        assert!(json_equal(&json!(1), &json!(1.0)));
        assert!(json_equal(&json!([1, {"a": 2}]), &json!([1.0, {"a": 2.0}])));
        assert!(!json_equal(&json!(1), &json!("1")));
        assert!(!json_equal(&json!(u64::MAX), &json!(-1)));
    }

    #[test]
    fn depth_counts_the_section_itself_and_not_scalars() {
        assert_eq!(depth(&json!({"a": 1})), 1);
        assert_eq!(depth(&json!({"a": {"b": {"c": {"d": {"e": {}}}}}})), 6);
        assert_eq!(depth(&json!({"a": [[1]]})), 3);
    }

    #[test]
    fn nulls_are_found_inside_nested_arrays() {
        assert!(has_null_in_array(&json!({"a": [1, null]})));
        assert!(has_null_in_array(&json!({"a": {"b": [[null]]}})));
        assert!(!has_null_in_array(&json!({"a": null, "b": [1]})));
    }

    #[test]
    fn the_size_excludes_metadata_and_empty_sections() {
        let doc = Document {
            desired: obj(json!({"a": 1})),
            desired_metadata: obj(json!({"a": {"timestamp": 1}})),
            ..Document::default()
        };
        assert_eq!(doc.size(), r#"{"a":1}"#.len());
    }
}
