//! JSON payloads to numeric series: numbers become `f64`, booleans 0 or 1, nested objects are
//! flattened with dotted names (`sample.temperature_c`); strings, nulls and arrays are left out.

use serde_json::Value;

/// One decoded value: the series name and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The dotted path of the field, e.g. `sample.temperature_c`.
    pub series: String,
    /// The field's value as a number.
    pub value: f64,
}

/// Why a payload gave no readings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The payload is not JSON.
    #[error("the payload is not JSON ({0}); the device must publish a JSON object")]
    NotJson(String),
    /// The payload is JSON but not an object.
    #[error("the payload is JSON but not an object; telemetry must be a JSON object of fields")]
    NotAnObject,
}

/// How payloads are decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Top-level fields that are message metadata, not measurements (`timestamp`, `seq`).
    pub skip: Vec<String>,
    /// Objects nested deeper than this are not followed (guards against hostile payloads).
    pub max_depth: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            skip: vec!["timestamp".to_owned(), "seq".to_owned()],
            max_depth: 8,
        }
    }
}

/// Decodes a JSON object payload into readings (in serde_json's key order).
pub fn decode(payload: &[u8], options: &DecodeOptions) -> Result<Vec<Reading>, DecodeError> {
    let value: Value =
        serde_json::from_slice(payload).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    let Value::Object(object) = value else {
        return Err(DecodeError::NotAnObject);
    };
    let mut readings = Vec::new();
    for (key, value) in &object {
        if !options.skip.iter().any(|s| s == key) {
            flatten(key.clone(), value, options.max_depth, &mut readings);
        }
    }
    Ok(readings)
}

/// Appends the readings under `value`, named from `path`.
fn flatten(path: String, value: &Value, depth: usize, out: &mut Vec<Reading>) {
    match value {
        Value::Number(n) => push(out, path, n.as_f64()),
        Value::Bool(b) => push(out, path, Some(if *b { 1.0 } else { 0.0 })),
        Value::Object(object) if depth > 0 => {
            for (key, inner) in object {
                flatten(format!("{path}.{key}"), inner, depth - 1, out);
            }
        }
        Value::Object(_) | Value::String(_) | Value::Null | Value::Array(_) => {}
    }
}

fn push(out: &mut Vec<Reading>, series: String, value: Option<f64>) {
    if let Some(value) = value.filter(|v| v.is_finite()) {
        out.push(Reading { series, value });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_and_values(payload: &str) -> Vec<(String, f64)> {
        decode(payload.as_bytes(), &DecodeOptions::default())
            .expect("a JSON object")
            .into_iter()
            .map(|r| (r.series, r.value))
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_iter()
            .collect()
    }

    #[test]
    fn a_sandbox_message_gives_its_numbers_and_booleans_with_dotted_names() {
        let payload = r#"{"thing":"thermostat-0001","kind":"thermostat","seq":3,
            "timestamp":1764430000123,"firmware_version":"1.0.0",
            "sample":{"temperature_c":20.5,"humidity_pct":41,"on":true,"hvac":"heating"}}"#;
        assert_eq!(
            names_and_values(payload),
            vec![
                ("sample.humidity_pct".to_owned(), 41.0),
                ("sample.on".to_owned(), 1.0),
                ("sample.temperature_c".to_owned(), 20.5),
            ],
            "strings, seq and timestamp are left out; nested fields are dotted"
        );
    }

    #[test]
    fn decoding_follows_a_table_of_payloads() {
        let cases: &[(&str, &[(&str, f64)])] = &[
            (r#"{"a":1}"#, &[("a", 1.0)]),
            (r#"{"a":false}"#, &[("a", 0.0)]),
            (r#"{"a":{"b":{"c":-2.5}}}"#, &[("a.b.c", -2.5)]),
            (r#"{"a":null,"b":[1,2],"c":"x"}"#, &[]),
            (r#"{"big":1e308,"n":-0}"#, &[("big", 1e308), ("n", 0.0)]),
            (r#"{}"#, &[]),
        ];
        for (payload, expected) in cases {
            let expected: Vec<(String, f64)> = expected
                .iter()
                .map(|(n, v)| ((*n).to_owned(), *v))
                .collect();
            assert_eq!(names_and_values(payload), expected, "payload {payload}");
        }
    }

    #[test]
    fn objects_deeper_than_the_limit_are_not_followed() {
        let options = DecodeOptions {
            max_depth: 1,
            ..DecodeOptions::default()
        };
        let readings = decode(br#"{"a":{"b":1,"c":{"d":2}},"e":3}"#, &options).expect("JSON");
        let mut names: Vec<&str> = readings.iter().map(|r| r.series.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["a.b", "e"], "a.c.d is two levels down");
    }

    #[test]
    fn a_payload_that_is_not_a_json_object_is_refused_with_a_sentence() {
        let not_json = decode(b"temp=21", &DecodeOptions::default()).expect_err("not JSON");
        assert!(
            not_json.to_string().contains("must publish a JSON object"),
            "the error says what is expected: {not_json}"
        );
        let array = decode(b"[1,2]", &DecodeOptions::default()).expect_err("an array");
        assert_eq!(array, DecodeError::NotAnObject, "an array is not telemetry");
    }
}
