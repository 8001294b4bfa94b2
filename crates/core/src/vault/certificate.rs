//! [`CertificateInfo`]: what a certificate says about itself, and when it stops working.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;

use super::VaultError;

/// How many days before expiry [`CertificateInfo::expiry_status`] starts to warn.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

const SECONDS_PER_DAY: i64 = 86_400;

/// The public facts of an X.509 certificate. Holds no secret: safe for SQLite and the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateInfo {
    /// The subject distinguished name, e.g. `CN=sensor-17`.
    pub subject: String,
    /// The issuer distinguished name.
    pub issuer: String,
    /// SHA-256 of the DER certificate as lowercase hex: what AWS IoT calls the `certificateId`.
    pub fingerprint_sha256: String,
    /// The serial number as lowercase hex.
    pub serial: String,
    /// Start of validity, in seconds since the Unix epoch.
    pub not_before: i64,
    /// End of validity, in seconds since the Unix epoch.
    pub not_after: i64,
}

impl CertificateInfo {
    /// Reads the facts of a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, VaultError> {
        let certificate = parse_certificate(der)?;
        Ok(Self::from_parsed(&certificate, der))
    }

    pub(crate) fn from_parsed(certificate: &X509Certificate<'_>, der: &[u8]) -> Self {
        let validity = certificate.validity();
        Self {
            subject: certificate.subject().to_string(),
            issuer: certificate.issuer().to_string(),
            fingerprint_sha256: hex::encode(Sha256::digest(der)),
            serial: hex::encode(certificate.raw_serial()),
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
        }
    }

    /// Where the certificate stands at `now`: not yet valid, valid, expiring within
    /// [`EXPIRY_WARNING_DAYS`] days, or expired. `now` is passed in so that tests and the UI
    /// agree on the clock.
    pub fn expiry_status(&self, now: SystemTime) -> ExpiryStatus {
        let now = unix_seconds(now);
        if now < self.not_before {
            return ExpiryStatus::NotYetValid {
                starts_in_days: (self.not_before - now + SECONDS_PER_DAY - 1) / SECONDS_PER_DAY,
            };
        }
        if now > self.not_after {
            return ExpiryStatus::Expired {
                days_ago: (now - self.not_after) / SECONDS_PER_DAY,
            };
        }
        let left = self.not_after - now;
        let days_left = left / SECONDS_PER_DAY;
        if left <= EXPIRY_WARNING_DAYS * SECONDS_PER_DAY {
            ExpiryStatus::ExpiresSoon { days_left }
        } else {
            ExpiryStatus::Valid { days_left }
        }
    }
}

/// Where a certificate stands in its validity period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpiryStatus {
    /// Its validity has not begun (or this machine's clock is wrong).
    NotYetValid {
        /// Whole days (rounded up) until it becomes valid.
        starts_in_days: i64,
    },
    /// Valid for more than [`EXPIRY_WARNING_DAYS`] days.
    Valid {
        /// Whole days left.
        days_left: i64,
    },
    /// Valid, but expires within [`EXPIRY_WARNING_DAYS`] days: time to renew.
    ExpiresSoon {
        /// Whole days left (0 on the last day).
        days_left: i64,
    },
    /// Past its end of validity: brokers will refuse it.
    Expired {
        /// Whole days since it expired (0 on the first day).
        days_ago: i64,
    },
}

impl ExpiryStatus {
    /// Whether the user should be told (expiring soon, expired, or not yet valid).
    pub fn needs_attention(self) -> bool {
        !matches!(self, Self::Valid { .. })
    }
}

impl fmt::Display for ExpiryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NotYetValid { starts_in_days } => write!(
                f,
                "the certificate is not valid yet (it starts in {starts_in_days} days): check this device's clock"
            ),
            Self::Valid { days_left } => {
                write!(f, "the certificate is valid for {days_left} more days")
            }
            Self::ExpiresSoon { days_left: 0 } => {
                write!(f, "the certificate expires today: renew it now")
            }
            Self::ExpiresSoon { days_left } => {
                write!(
                    f,
                    "the certificate expires in {days_left} days: renew it soon"
                )
            }
            Self::Expired { days_ago } => write!(
                f,
                "the certificate expired {days_ago} days ago: brokers will refuse it, renew it"
            ),
        }
    }
}

/// Parses a DER certificate, turning the parser's error into a sentence.
pub(crate) fn parse_certificate(der: &[u8]) -> Result<X509Certificate<'_>, VaultError> {
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, certificate)) => Ok(certificate),
        Err(error) => Err(VaultError::BadCertificate(error.to_string())),
    }
}

/// Seconds since the Unix epoch, negative before it.
pub(crate) fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn info(not_before: i64, not_after: i64) -> CertificateInfo {
        CertificateInfo {
            subject: "CN=t".into(),
            issuer: "CN=ca".into(),
            fingerprint_sha256: String::new(),
            serial: "01".into(),
            not_before,
            not_after,
        }
    }

    fn at(seconds: i64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).expect("positive"))
    }

    #[test]
    fn expiry_status_follows_the_calendar() {
        let day = SECONDS_PER_DAY;
        let cert = info(100 * day, 200 * day);
        let table = [
            (99 * day, ExpiryStatus::NotYetValid { starts_in_days: 1 }),
            (100 * day, ExpiryStatus::Valid { days_left: 100 }),
            (169 * day, ExpiryStatus::Valid { days_left: 31 }),
            (170 * day - 1, ExpiryStatus::Valid { days_left: 30 }),
            (170 * day, ExpiryStatus::ExpiresSoon { days_left: 30 }),
            (199 * day + 1, ExpiryStatus::ExpiresSoon { days_left: 0 }),
            (200 * day, ExpiryStatus::ExpiresSoon { days_left: 0 }),
            (200 * day + 1, ExpiryStatus::Expired { days_ago: 0 }),
            (210 * day, ExpiryStatus::Expired { days_ago: 10 }),
        ];
        for (now, expected) in table {
            assert_eq!(cert.expiry_status(at(now)), expected, "at {now} s");
        }
    }

    #[test]
    fn expiry_messages_say_what_to_do() {
        assert_eq!(
            ExpiryStatus::ExpiresSoon { days_left: 12 }.to_string(),
            "the certificate expires in 12 days: renew it soon"
        );
        assert!(
            ExpiryStatus::Expired { days_ago: 3 }
                .to_string()
                .contains("expired 3 days ago")
        );
        assert!(!ExpiryStatus::Valid { days_left: 90 }.needs_attention());
        assert!(ExpiryStatus::Expired { days_ago: 3 }.needs_attention());
    }

    #[test]
    fn times_before_the_epoch_are_negative() {
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(5)), -5);
    }
}
