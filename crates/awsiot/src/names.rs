//! Validated names that appear in reserved topics.
//!
//! Each name is a newtype that can only be built through validation, so a typed topic always
//! renders to a string AWS IoT Core would accept, and parsing a topic always yields valid names.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// Defines a validated string newtype with `new`, `as_str`, `Display`, `FromStr` and serde.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $error:ident, $valid:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Validates `name` and wraps it.
            pub fn new(name: impl Into<String>) -> Result<Self, Error> {
                let name = name.into();
                let valid: fn(&str) -> bool = $valid;
                if valid(&name) { Ok(Self(name)) } else { Err(Error::$error(name)) }
            }

            /// The name as it appears in topics and payloads.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::new(raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// True when `s` has `min..=max` characters, each accepted by `allowed`.
fn chars_within(s: &str, max: usize, allowed: impl Fn(char) -> bool) -> bool {
    !s.is_empty() && s.chars().count() <= max && s.chars().all(allowed)
}

/// `[a-zA-Z0-9:_-]`, the alphabet of thing names.
fn thing_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-')
}

name_type!(
    /// A thing name: 1-128 characters from `[a-zA-Z0-9:_-]` (reference §1.1, §2.3).
    ThingName,
    InvalidThingName,
    |s| chars_within(s, 128, thing_char)
);

name_type!(
    /// A named shadow's name: 1-64 characters from `[$a-zA-Z0-9:_-]`.
    ///
    /// The iot-data service model allows `$`; Greengrass and the embedded-C library do not.
    /// Choice: accept `$` as the cloud's own API model does, since a stand-in must not refuse
    /// what AWS accepts.
    ShadowName,
    InvalidShadowName,
    |s| chars_within(s, 64, |c| c == '$' || thing_char(c))
);

name_type!(
    /// A job id: 1-64 characters from `[a-zA-Z0-9_-]` (reference §2.3; `:` is refused as the
    /// embedded library does). `$next` is not a job id: see `jobs::JobTarget`.
    JobId,
    InvalidJobId,
    |s| chars_within(s, 64, |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
);

name_type!(
    /// A fleet provisioning template name: 1-36 characters from `[0-9A-Za-z_-]` (reference §3).
    TemplateName,
    InvalidTemplateName,
    |s| chars_within(s, 36, |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
);

name_type!(
    /// An MQTT client id as used in lifecycle topics: 1-128 bytes of UTF-8 without `+` or `#`
    /// (AWS sends no lifecycle events for ids containing those, reference §4.4). It may contain
    /// `/`, in which case the lifecycle topic has more levels.
    ClientId,
    InvalidClientId,
    |s| !s.is_empty() && s.len() <= 128 && !s.contains(['+', '#'])
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thing_names_follow_the_aws_alphabet_and_length() {
        assert!(ThingName::new("Thermostat-01:kitchen_2").is_ok());
        assert!(ThingName::new("a".repeat(128)).is_ok());
        for bad in ["", "has space", "slash/", "dollar$", "plus+", "é"] {
            assert!(ThingName::new(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(
            ThingName::new("a".repeat(129)).is_err(),
            "129 characters must be refused"
        );
    }

    #[test]
    fn shadow_names_allow_a_dollar_and_stop_at_64_characters() {
        assert!(ShadowName::new("$config").is_ok());
        assert!(ShadowName::new("a".repeat(64)).is_ok());
        assert!(ShadowName::new("a".repeat(65)).is_err());
        assert!(ShadowName::new("").is_err());
        assert!(ShadowName::new("a/b").is_err());
    }

    #[test]
    fn job_ids_refuse_a_colon_and_the_next_placeholder() {
        assert!(JobId::new("firmware-2_0").is_ok());
        assert!(JobId::new("a:b").is_err());
        assert!(JobId::new("$next").is_err());
    }

    #[test]
    fn template_names_stop_at_36_characters() {
        assert!(TemplateName::new("a".repeat(36)).is_ok());
        assert!(TemplateName::new("a".repeat(37)).is_err());
    }

    #[test]
    fn client_ids_refuse_wildcards_and_more_than_128_bytes() {
        assert!(ClientId::new("dev/1").is_ok());
        assert!(ClientId::new("a+b").is_err());
        assert!(ClientId::new("a#").is_err());
        assert!(
            ClientId::new("é".repeat(65)).is_err(),
            "130 bytes must be refused"
        );
    }

    #[test]
    fn names_deserialize_only_when_valid() {
        let ok: Result<ThingName, _> = serde_json::from_str("\"lamp\"");
        assert!(ok.is_ok());
        let bad: Result<ThingName, _> = serde_json::from_str("\"no way\"");
        assert!(bad.is_err());
    }
}
