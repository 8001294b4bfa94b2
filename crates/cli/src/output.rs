//! Everything the CLI prints goes through here: results to standard output, problems to
//! standard error.

#![allow(clippy::print_stdout, clippy::print_stderr)]

/// Prints a line of results.
pub fn line(text: &str) {
    println!("{text}");
}

/// Prints a value as one line of JSON.
pub fn json(value: &serde_json::Value) {
    println!("{value}");
}

/// Prints a problem.
pub fn error(text: &str) {
    eprintln!("companion: {text}");
}
