//! Pure logic of the device page, tested natively: the side-by-side rows of a shadow, the
//! desired-state editor's checks, which edit a control shows, and chart geometry.

use companion_model::{ChartPoint, EditStatus, EditSummary};
use serde_json::Value;

/// AWS's default limit on a shadow's desired plus reported JSON, bytes.
pub const MAX_DOCUMENT_BYTES: usize = 8192;
/// AWS's limit on the nesting depth of a section (the section object counts as 1).
pub const MAX_DEPTH: usize = 6;

/// One top-level key of a shadow across its sections.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The key.
    pub key: String,
    /// Its desired value, if any.
    pub desired: Option<Value>,
    /// Its reported value, if any.
    pub reported: Option<Value>,
    /// Its delta value: desired that reported does not match yet.
    pub delta: Option<Value>,
}

impl Row {
    /// Desired asks for something reported does not show.
    pub fn out_of_sync(&self) -> bool {
        self.delta.is_some()
    }
}

/// The rows of a shadow: every top-level key of desired or reported, sorted.
pub fn rows(desired: &Value, reported: &Value, delta: &Value) -> Vec<Row> {
    let mut keys: Vec<&String> = [desired, reported]
        .into_iter()
        .filter_map(Value::as_object)
        .flat_map(|map| map.keys())
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|key| Row {
            key: key.clone(),
            desired: desired.get(key).cloned(),
            reported: reported.get(key).cloned(),
            delta: delta.get(key).cloned(),
        })
        .collect()
}

/// A value as one short line: strings without quotes, everything else as compact JSON.
pub fn show(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Checks the desired-state editor's text as the Shadow service will: a JSON object, no
/// deeper than [`MAX_DEPTH`], no nulls inside arrays, and within [`MAX_DOCUMENT_BYTES`].
/// Returns the patch or a sentence saying what to fix.
pub fn parse_desired(text: &str) -> Result<Value, String> {
    let value: Value = serde_json::from_str(text).map_err(|error| {
        format!(
            "Not valid JSON (line {}, column {}): {error}.",
            error.line(),
            error.column()
        )
    })?;
    if !value.is_object() {
        return Err("The desired state must be a JSON object, such as {\"on\": true}.".to_owned());
    }
    if depth(&value) > MAX_DEPTH {
        return Err(format!(
            "Nested too deeply: AWS allows {MAX_DEPTH} levels in a shadow section."
        ));
    }
    if null_in_array(&value) {
        return Err("Arrays in a shadow cannot contain null.".to_owned());
    }
    let size = value.to_string().len();
    if size > MAX_DOCUMENT_BYTES {
        return Err(format!(
            "{size} bytes: AWS allows {MAX_DOCUMENT_BYTES} bytes of desired and reported state."
        ));
    }
    Ok(value)
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn null_in_array(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.values().any(null_in_array),
        Value::Array(items) => items.iter().any(|v| v.is_null() || null_in_array(v)),
        _ => false,
    }
}

/// The newest edit that sets `key`, for the control of that key to show.
pub fn latest_edit_of<'e>(edits: &'e [EditSummary], key: &str) -> Option<&'e EditSummary> {
    edits
        .iter()
        .filter(|edit| edit.desired.get(key).is_some())
        .max_by_key(|edit| edit.id)
}

/// Whether an edit still waits for the service or the device.
pub fn is_open(status: &EditStatus) -> bool {
    matches!(status, EditStatus::Queued | EditStatus::Pending { .. })
}

/// "12 s ago", "5 min ago", "3 h ago", "2 d ago" from two epoch-millisecond times.
pub fn ago(then_ms: i64, now_ms: i64) -> String {
    let secs = (now_ms - then_ms).max(0) / 1000;
    match secs {
        0..=59 => format!("{secs} s ago"),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

/// A chart drawn into a `width`×`height` box: the average as a line, min–max as a band.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartShape {
    /// SVG path of the averages.
    pub line: String,
    /// SVG path of the min–max band (closed).
    pub band: String,
    /// The value at the bottom edge.
    pub low: f64,
    /// The value at the top edge.
    pub high: f64,
    /// Each point's average as `(x, y)`.
    pub dots: Vec<(f64, f64)>,
}

/// Lays `points` of the window `[from_ms, to_ms)` into the box. `None` without points.
pub fn chart_shape(
    points: &[ChartPoint],
    from_ms: i64,
    to_ms: i64,
    width: f64,
    height: f64,
) -> Option<ChartShape> {
    let low = points.iter().map(|p| p.min).fold(f64::INFINITY, f64::min);
    let high = points
        .iter()
        .map(|p| p.max)
        .fold(f64::NEG_INFINITY, f64::max);
    if !low.is_finite() || !high.is_finite() {
        return None;
    }
    // A flat series sits in the middle of a band one unit high.
    let (low, high) = if (high - low).abs() < f64::EPSILON {
        (low - 0.5, high + 0.5)
    } else {
        let pad = (high - low) * 0.05;
        (low - pad, high + pad)
    };
    let span = (to_ms - from_ms).max(1) as f64;
    let x = |t: i64| ((t - from_ms) as f64 / span * width).clamp(0.0, width);
    let y = |v: f64| height - (v - low) / (high - low) * height;
    let mut line = String::new();
    for (i, p) in points.iter().enumerate() {
        line.push_str(&format!(
            "{}{:.1},{:.1}",
            if i == 0 { "M" } else { " L" },
            x(p.t_ms),
            y(p.avg)
        ));
    }
    let mut band = String::new();
    for (i, p) in points.iter().enumerate() {
        band.push_str(&format!(
            "{}{:.1},{:.1}",
            if i == 0 { "M" } else { " L" },
            x(p.t_ms),
            y(p.max)
        ));
    }
    for p in points.iter().rev() {
        band.push_str(&format!(" L{:.1},{:.1}", x(p.t_ms), y(p.min)));
    }
    band.push_str(" Z");
    let dots = points.iter().map(|p| (x(p.t_ms), y(p.avg))).collect();
    Some(ChartShape {
        line,
        band,
        low,
        high,
        dots,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rows_cover_both_sections_and_mark_the_delta() {
        let rows = rows(
            &json!({"on": true, "mode": "heat"}),
            &json!({"on": false, "watts": 3.5}),
            &json!({"on": true, "mode": "heat"}),
        );
        let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["mode", "on", "watts"]);
        assert!(rows[1].out_of_sync());
        assert_eq!(rows[2].desired, None);
        assert!(!rows[2].out_of_sync());
    }

    #[test]
    fn the_editor_refuses_what_the_shadow_service_would() {
        assert!(parse_desired("{\"on\": true}").is_ok());
        assert!(parse_desired("{\"on\": }").unwrap_err().contains("line 1"));
        assert!(parse_desired("[1]").unwrap_err().contains("object"));
        assert!(
            parse_desired("{\"a\": [1, null]}")
                .unwrap_err()
                .contains("null")
        );
        let deep = json!({"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}});
        let six_levels = json!({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}});
        assert!(
            parse_desired(&six_levels.to_string()).is_ok(),
            "six levels are allowed"
        );
        assert!(
            parse_desired(&deep.to_string())
                .unwrap_err()
                .contains("levels")
        );
        let big = json!({"a": "x".repeat(MAX_DOCUMENT_BYTES)});
        assert!(
            parse_desired(&big.to_string())
                .unwrap_err()
                .contains("bytes")
        );
    }

    #[test]
    fn a_control_shows_the_newest_edit_of_its_key() {
        let edit = |id, desired: Value, status| EditSummary {
            id,
            desired,
            base_version: Some(1),
            attempts: 1,
            status,
        };
        let edits = [
            edit(1, json!({"on": true}), EditStatus::Applied { version: 2 }),
            edit(2, json!({"mode": "off"}), EditStatus::Queued),
            edit(3, json!({"on": false}), EditStatus::Pending { version: 4 }),
        ];
        assert_eq!(latest_edit_of(&edits, "on").map(|e| e.id), Some(3));
        assert_eq!(latest_edit_of(&edits, "mode").map(|e| e.id), Some(2));
        assert_eq!(latest_edit_of(&edits, "target_c"), None);
        assert!(is_open(&edits[2].status) && !is_open(&edits[0].status));
    }

    #[test]
    fn chart_geometry_fits_the_box() {
        let point = |t_ms, v: f64| ChartPoint {
            t_ms,
            min: v - 1.0,
            max: v + 1.0,
            avg: v,
        };
        let shape = chart_shape(&[point(0, 10.0), point(500, 20.0)], 0, 1000, 100.0, 50.0)
            .expect("a shape");
        assert!(shape.line.starts_with("M0.0,"));
        assert!(shape.line.contains(" L50.0,"), "{}", shape.line);
        assert!(shape.band.ends_with('Z'));
        assert_eq!(shape.dots.len(), 2);
        assert!(
            shape
                .dots
                .iter()
                .all(|&(x, y)| (0.0..=100.0).contains(&x) && (0.0..=50.0).contains(&y))
        );
        assert!(shape.low < 9.0 && shape.high > 21.0);
        assert_eq!(chart_shape(&[], 0, 1000, 100.0, 50.0), None);
        let flat = chart_shape(&[point(0, 5.0)], 0, 1000, 100.0, 50.0).expect("a shape");
        assert!(flat.high > flat.low);
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(ago(0, 12_000), "12 s ago");
        assert_eq!(ago(0, 300_000), "5 min ago");
        assert_eq!(ago(0, 3 * 3_600_000), "3 h ago");
        assert_eq!(ago(0, 2 * 86_400_000), "2 d ago");
        assert_eq!(
            ago(5_000, 0),
            "0 s ago",
            "a clock skew never reads negative"
        );
    }
}
