//! Protobuf messages of ESP-IDF's unified provisioning, hand-written with `prost` derives.
//!
//! One module per `.proto` file, with the messages, field numbers and enum values of
//! `components/protocomm/proto/*.proto` and `components/wifi_provisioning/proto/*.proto`
//! (checked against ESP-IDF; see the crate README's verification record). The files declare no
//! protobuf package, so the names are ESP-IDF's own. Enum fields are `i32` as in every proto3
//! binding: an unknown value received from a device stays representable and is rejected by the
//! typed layers above, never by a panic.
//!
//! Messages that carry a secret (the Wi-Fi passphrase) print it as `<redacted>`.

pub mod constants;
pub mod sec0;
pub mod sec1;
pub mod sec2;
pub mod session;
pub mod wifi_config;
pub mod wifi_constants;
pub mod wifi_ctrl;
pub mod wifi_scan;

pub use constants::Status;
