//! The `proto-ver` endpoint: plaintext JSON naming the provisioning version, the security
//! scheme and the capabilities.
//!
//! The Wi-Fi provisioning manager answers any non-empty request with
//! `{"prov":{"ver":"v1.1","sec_ver":2,"sec_patch_ver":1,"cap":["wifi_scan"]}}`, pretty-printed,
//! plus one object per application label (`wifi_prov_mgr_set_app_info`):
//! `"<label>":{"ver":"…","cap":[…]}`. Older firmware omits `sec_patch_ver` (meaning 0) and even
//! older firmware omits `sec_ver` (Security 0 when `cap` has `no_sec`, else Security 1); the
//! oldest answers a bare version string. [`VersionInfo::parse`] accepts all of these, and also a
//! numeric string for `sec_ver`/`sec_patch_ver` (seen in third-party firmware) and trailing NUL
//! bytes.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::security::{Sec2Patch, SecurityScheme};

/// The provisioning manager's version string (`WIFI_PROV_MGR_VERSION`).
pub const PROV_VERSION: &str = "v1.1";

/// A request body for `proto-ver`. Any non-empty bytes do; the SoftAP transport rejects an
/// empty body. (esp_prov sends `---`, the Android library `ESP`.)
pub const PROBE: &[u8] = b"---";

/// Capability strings found in `prov.cap`.
pub mod capability {
    /// The device scans for Wi-Fi networks (`prov-scan`).
    pub const WIFI_SCAN: &str = "wifi_scan";
    /// Security 0: no handshake secret at all.
    pub const NO_SEC: &str = "no_sec";
    /// Security 1 without a proof of possession.
    pub const NO_POP: &str = "no_pop";
}

/// The parsed `proto-ver` answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionInfo {
    /// The `prov` object.
    pub prov: ProvInfo,
    /// Every other top-level key: application sections such as ours,
    /// `{"ver":"…","cap":[…]}`, kept as JSON.
    #[serde(flatten)]
    pub apps: Map<String, Value>,
}

/// The `prov` object of the `proto-ver` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProvInfo {
    /// The provisioning version, e.g. `v1.1`.
    pub ver: String,
    /// The security scheme as sent; absent on old firmware.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sec_ver: Option<u32>,
    /// The Security 2 patch level as sent; absent means 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sec_patch_ver: Option<u32>,
    /// Capability strings ([`capability`]).
    pub cap: Vec<String>,
}

/// An application section of the `proto-ver` answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppInfo {
    /// The application's protocol version.
    pub ver: String,
    /// The application's capabilities.
    pub cap: Vec<String>,
}

impl VersionInfo {
    /// What a device with this security configuration answers (the manager's layout, plus
    /// `sec_patch_ver`).
    pub fn for_device(scheme: SecurityScheme, patch: Sec2Patch, caps: &[&str]) -> Self {
        let prov = ProvInfo {
            ver: PROV_VERSION.to_owned(),
            sec_ver: Some(scheme.version()),
            sec_patch_ver: Some(patch.version()),
            cap: caps.iter().map(|cap| (*cap).to_owned()).collect(),
        };
        Self {
            prov,
            apps: Map::new(),
        }
    }

    /// Adds an application section (`wifi_prov_mgr_set_app_info`).
    pub fn with_app(mut self, label: &str, app: &AppInfo) -> Self {
        let value = serde_json::json!({ "ver": app.ver, "cap": app.cap });
        self.apps.insert(label.to_owned(), value);
        self
    }

    /// Parses the bytes read from `proto-ver`.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Error::Version("the answer is not UTF-8".into()))?
            .trim_end_matches('\0')
            .trim();
        if text.is_empty() {
            return Err(Error::Version("the answer is empty".into()));
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(mut root)) => {
                let prov = root
                    .remove("prov")
                    .ok_or_else(|| Error::Version("there is no \"prov\" object".into()))?;
                Ok(Self {
                    prov: ProvInfo::from_json(&prov)?,
                    apps: root,
                })
            }
            Ok(Value::String(version)) => Ok(Self::bare(version)),
            Ok(_) => Err(Error::Version(
                "the answer is neither an object nor a string".into(),
            )),
            Err(_) => Ok(Self::bare(text.to_owned())),
        }
    }

    /// The JSON a device sends (compact; clients do not care about whitespace).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The security scheme the device expects: `sec_ver`, or, when absent, Security 0 if the
    /// capabilities contain `no_sec` and Security 1 otherwise (esp_prov's rule).
    pub fn security_scheme(&self) -> Result<SecurityScheme> {
        match self.prov.sec_ver {
            Some(version) => SecurityScheme::from_version(version)
                .ok_or_else(|| Error::Version(format!("unknown security scheme {version}"))),
            None if self.has_capability(capability::NO_SEC) => Ok(SecurityScheme::Sec0),
            None => Ok(SecurityScheme::Sec1),
        }
    }

    /// The Security 2 nonce rule: `sec_patch_ver`, absent meaning 0.
    pub fn sec2_patch(&self) -> Result<Sec2Patch> {
        Sec2Patch::from_version(self.prov.sec_patch_ver.unwrap_or(0))
    }

    /// Whether the handshake needs a secret from the user (a PoP for Security 1, a password for
    /// Security 2).
    pub fn secret_required(&self) -> Result<bool> {
        Ok(match self.security_scheme()? {
            SecurityScheme::Sec0 => false,
            SecurityScheme::Sec1 => !self.has_capability(capability::NO_POP),
            SecurityScheme::Sec2 => true,
        })
    }

    /// Whether `prov.cap` contains `capability`.
    pub fn has_capability(&self, capability: &str) -> bool {
        self.prov.cap.iter().any(|cap| cap == capability)
    }

    /// The application section under `label`, if it is an object.
    pub fn app(&self, label: &str) -> Option<AppInfo> {
        let section = self.apps.get(label)?.as_object()?;
        let ver = section.get("ver").map(json_text).unwrap_or_default();
        let cap = section.get("cap").map(strings).unwrap_or_default();
        Some(AppInfo { ver, cap })
    }

    fn bare(version: String) -> Self {
        let prov = ProvInfo {
            ver: version,
            sec_ver: None,
            sec_patch_ver: None,
            cap: Vec::new(),
        };
        Self {
            prov,
            apps: Map::new(),
        }
    }
}

impl ProvInfo {
    fn from_json(value: &Value) -> Result<Self> {
        let object = value
            .as_object()
            .ok_or_else(|| Error::Version("\"prov\" is not an object".into()))?;
        Ok(Self {
            ver: object.get("ver").map(json_text).unwrap_or_default(),
            sec_ver: optional_number(object, "sec_ver")?,
            sec_patch_ver: optional_number(object, "sec_patch_ver")?,
            cap: object.get("cap").map(strings).unwrap_or_default(),
        })
    }
}

fn optional_number(object: &Map<String, Value>, key: &'static str) -> Result<Option<u32>> {
    let parsed = match object.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(number)) => number.as_u64().and_then(|n| u32::try_from(n).ok()),
        Some(Value::String(text)) => text.trim().parse().ok(),
        Some(_) => None,
    };
    parsed
        .map(Some)
        .ok_or_else(|| Error::Version(format!("\"{key}\" is not a small non-negative integer")))
}

fn json_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn strings(value: &Value) -> Vec<String> {
    let items = value.as_array().map(Vec::as_slice).unwrap_or_default();
    items
        .iter()
        .filter_map(|item| item.as_str().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_current_manager_answer_is_parsed() {
        // Pretty-printed by cJSON_Print, as the manager sends it (seen in a device log).
        let answer = b"{\n\t\"prov\":\t{\n\t\t\"ver\":\t\"v1.1\",\n\t\t\"sec_ver\":\t2,\n\t\t\"sec_patch_ver\":\t1,\n\t\t\"cap\":\t[\"wifi_scan\"]\n\t},\n\t\"aws\":\t{\"ver\":\t\"1\",\t\"cap\":\t[\"csr\"]}\n}\0";
        let info = VersionInfo::parse(answer).expect("parses");
        assert_eq!(info.prov.ver, "v1.1");
        assert_eq!(info.security_scheme(), Ok(SecurityScheme::Sec2));
        assert_eq!(info.sec2_patch(), Ok(Sec2Patch::Counter));
        assert!(info.has_capability(capability::WIFI_SCAN));
        assert_eq!(info.secret_required(), Ok(true));
        let app = info.app("aws").expect("app section");
        assert_eq!(
            app,
            AppInfo {
                ver: "1".into(),
                cap: vec!["csr".into()]
            }
        );
    }

    #[test]
    fn missing_fields_follow_esp_prov_rules() {
        let cases: &[(&[u8], SecurityScheme, Sec2Patch, bool)] = &[
            (
                br#"{"prov":{"ver":"v1.1","cap":["no_sec"]}}"#,
                SecurityScheme::Sec0,
                Sec2Patch::Fixed,
                false,
            ),
            (
                br#"{"prov":{"ver":"v1.1","cap":["no_pop"]}}"#,
                SecurityScheme::Sec1,
                Sec2Patch::Fixed,
                false,
            ),
            (
                br#"{"prov":{"ver":"v1.1","cap":[]}}"#,
                SecurityScheme::Sec1,
                Sec2Patch::Fixed,
                true,
            ),
            (
                br#"{"prov":{"ver":"v1.1","sec_ver":"1","sec_patch_ver":"0","cap":["wifi_scan"]}}"#,
                SecurityScheme::Sec1,
                Sec2Patch::Fixed,
                true,
            ),
            (b"v1.0", SecurityScheme::Sec1, Sec2Patch::Fixed, true),
            (b"\"V0.1\"", SecurityScheme::Sec1, Sec2Patch::Fixed, true),
        ];
        for (answer, scheme, patch, secret) in cases {
            let text = String::from_utf8_lossy(answer);
            let info = VersionInfo::parse(answer).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(info.security_scheme().as_ref(), Ok(scheme), "{text}");
            assert_eq!(info.sec2_patch().as_ref(), Ok(patch), "{text}");
            assert_eq!(info.secret_required(), Ok(*secret), "{text}");
        }
    }

    #[test]
    fn unusable_answers_are_errors() {
        for answer in [
            &b""[..],
            b"\0\0",
            br#"{"ver":"v1.1"}"#,
            br#"{"prov":"v1.1"}"#,
            br#"{"prov":{"sec_ver":-1}}"#,
            br#"[1,2]"#,
            &[0xff, 0xfe],
        ] {
            assert!(
                VersionInfo::parse(answer).is_err(),
                "{:?}",
                String::from_utf8_lossy(answer)
            );
        }
        let info = VersionInfo::parse(br#"{"prov":{"sec_ver":7}}"#).expect("parses");
        assert!(info.security_scheme().is_err(), "sec_ver 7 is unknown");
    }

    #[test]
    fn the_device_answer_parses_back_to_itself() {
        let info = VersionInfo::for_device(
            SecurityScheme::Sec2,
            Sec2Patch::Counter,
            &[capability::WIFI_SCAN],
        )
        .with_app(
            "aws",
            &AppInfo {
                ver: "1".into(),
                cap: vec!["csr".into()],
            },
        );
        let json = info.to_json();
        let text = String::from_utf8_lossy(&json);
        assert!(
            text.starts_with(r#"{"prov":{"ver":"v1.1","sec_ver":2,"sec_patch_ver":1,"cap":["wifi_scan"]},"aws":{"#),
            "{text}"
        );
        assert_eq!(VersionInfo::parse(&json), Ok(info));
    }
}
