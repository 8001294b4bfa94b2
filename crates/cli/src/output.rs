//! Everything the CLI prints goes through here: results to standard output, problems to
//! standard error.

#![allow(clippy::print_stdout, clippy::print_stderr)]

/// Prints a line of results.
pub fn line(text: &str) {
    println!("{text}");
}

/// Prints a row of a table (without the padding at its end).
pub fn row(text: &str) {
    println!("{}", text.trim_end());
}

/// Prints a value as one line of JSON.
pub fn json(value: &serde_json::Value) {
    println!("{value}");
}

/// Prints a problem.
pub fn error(text: &str) {
    eprintln!("companion: {text}");
}

/// RFC 3339 UTC of epoch milliseconds, e.g. `2025-11-29T15:26:40.123Z`.
pub fn time_ms(ms: i64) -> String {
    let seconds = ms.div_euclid(1000);
    format!("{}.{:03}Z", time_of_day(seconds), ms.rem_euclid(1000))
}

/// RFC 3339 UTC of epoch seconds, e.g. `2025-11-29T15:26:40Z`.
pub fn time_secs(seconds: i64) -> String {
    format!("{}Z", time_of_day(seconds))
}

fn time_of_day(seconds: i64) -> String {
    let in_day = seconds.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}",
        crate::cert::date(seconds),
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_in_utc() {
        assert_eq!(time_secs(0), "1970-01-01T00:00:00Z");
        assert_eq!(time_ms(1_764_430_000_123), "2025-11-29T15:26:40.123Z");
        assert_eq!(time_ms(-1), "1969-12-31T23:59:59.999Z", "before the epoch");
    }
}
