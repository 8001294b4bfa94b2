//! A pure diff of two JSON documents, for the history view in the UI.

use std::fmt;

use companion_awsiot::shadow::document::json_equal;
use serde_json::Value;

/// One changed leaf: its path from the root and its value before and after (`None` when the
/// key did not exist on that side).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Object keys from the root, e.g. `["desired", "color", "r"]`.
    pub path: Vec<String>,
    /// The value in the previous document.
    pub before: Option<Value>,
    /// The value in the current document.
    pub after: Option<Value>,
}

impl Change {
    /// The path joined with dots, e.g. `desired.color.r`.
    pub fn dotted(&self) -> String {
        self.path.join(".")
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<Value>| v.as_ref().map_or("(absent)".to_owned(), Value::to_string);
        write!(
            f,
            "{}: {} → {}",
            self.dotted(),
            show(&self.before),
            show(&self.after)
        )
    }
}

/// Every path whose value differs between `previous` and `current`, in key order. Objects are
/// compared key by key; arrays and scalars as whole values (numbers numerically, as the Shadow
/// service compares them), so an array change is one entry.
pub fn diff(previous: &Value, current: &Value) -> Vec<Change> {
    let mut changes = Vec::new();
    walk(&mut Vec::new(), Some(previous), Some(current), &mut changes);
    changes
}

fn walk(
    path: &mut Vec<String>,
    before: Option<&Value>,
    after: Option<&Value>,
    out: &mut Vec<Change>,
) {
    match (before, after) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                path.push(key.clone());
                walk(path, a.get(key), b.get(key), out);
                path.pop();
            }
        }
        (Some(a), Some(b)) if json_equal(a, b) => {}
        (None, None) => {}
        (before, after) => out.push(Change {
            path: path.clone(),
            before: before.cloned(),
            after: after.cloned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn equal_documents_have_no_changes() {
        let doc = json!({"desired": {"on": true, "level": 1}});
        assert!(
            diff(&doc, &json!({"desired": {"level": 1.0, "on": true}})).is_empty(),
            "1 and 1.0 are the same number and key order does not matter"
        );
    }

    #[test]
    fn nested_changes_list_full_paths_with_before_and_after() {
        let before = json!({"desired": {"color": {"r": 1, "g": 2}, "on": true}});
        let after = json!({"desired": {"color": {"r": 9, "g": 2}, "mode": "eco"}});
        let changes: Vec<String> = diff(&before, &after)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            changes,
            [
                "desired.color.r: 1 → 9",
                "desired.mode: (absent) → \"eco\"",
                "desired.on: true → (absent)",
            ],
            "each changed leaf appears once, added and removed keys included"
        );
    }

    #[test]
    fn an_array_change_is_one_entry_for_the_whole_array() {
        let changes = diff(&json!({"a": [1, 2]}), &json!({"a": [1, 3]}));
        assert_eq!(changes.len(), 1, "arrays are opaque values: {changes:?}");
        assert_eq!(changes[0].after, Some(json!([1, 3])), "the whole new array");
    }

    #[test]
    fn a_section_that_appears_is_one_change_at_its_root() {
        let changes = diff(&json!({}), &json!({"reported": {"on": true}}));
        assert_eq!(
            changes[0].dotted(),
            "reported",
            "a new section is one entry"
        );
    }
}
