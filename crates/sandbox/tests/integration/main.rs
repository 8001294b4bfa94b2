//! The sandbox's public behaviour with real brokers on loopback: rumqttc clients against the
//! embedded broker (through the gateway) and against Mosquitto. One test binary (faster links).

#![allow(clippy::unwrap_used)]

mod common;
mod fleet;
mod jobs;
mod lifecycle;
mod mosquitto;
mod provisioning;
mod shadow;
