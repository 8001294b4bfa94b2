//! A local stand-in of AWS IoT Core: an embedded MQTT broker on loopback, the AWS IoT services
//! (Device Shadow, Jobs, fleet provisioning, lifecycle events, a thing registry) speaking the
//! exact MQTT APIs as ordinary clients of that broker — or of an external one such as
//! Mosquitto — and simulated devices that behave like real firmware.

pub mod connect;
