//! What firmware does with a job document, and the progress of a running firmware update.

use std::time::Duration;

use companion_awsiot::jobs::StatusDetails;
use companion_awsiot::{JobId, Timestamp};
use serde_json::Value;

/// The job operation the simulated firmware knows.
pub const FIRMWARE_UPDATE: &str = "firmware-update";

/// What a job document asks for, as the firmware understands it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOrder {
    /// `{"operation":"firmware-update","version":"1.2.0"}`: install that version.
    FirmwareUpdate {
        /// The version to install.
        version: String,
    },
    /// Anything else: the job is rejected with this reason in its statusDetails.
    Unsupported {
        /// Why, in a sentence.
        reason: String,
    },
}

impl JobOrder {
    /// Reads a job document (absent documents are unsupported too).
    pub fn from_document(document: Option<&Value>) -> Self {
        let operation = document
            .and_then(|d| d.get("operation"))
            .and_then(Value::as_str);
        match operation {
            Some(FIRMWARE_UPDATE) => Self::firmware_update(document),
            Some(other) => Self::unsupported(format!("unsupported operation '{other}'")),
            None => Self::unsupported("the job document has no \"operation\"".to_owned()),
        }
    }

    fn firmware_update(document: Option<&Value>) -> Self {
        let version = document
            .and_then(|d| d.get("version"))
            .and_then(Value::as_str);
        match version {
            Some(version) if !version.trim().is_empty() => Self::FirmwareUpdate {
                version: version.to_owned(),
            },
            _ => Self::unsupported("a firmware-update needs a \"version\" string".to_owned()),
        }
    }

    fn unsupported(reason: String) -> Self {
        Self::Unsupported { reason }
    }
}

/// A firmware update in progress: it advances one step per interval from 0 to 100 %.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    /// The job being executed.
    pub job_id: JobId,
    /// The version being installed.
    pub version: String,
    /// Percent done.
    pub progress: u8,
    /// When the next step is due.
    pub next_step: Timestamp,
    steps: u8,
    step_interval: Duration,
}

impl JobRun {
    /// A run of `steps` steps (at least one), each `step_interval` long, starting at `now`.
    pub fn new(
        job_id: JobId,
        version: String,
        steps: u8,
        step_interval: Duration,
        now: Timestamp,
    ) -> Self {
        Self {
            job_id,
            version,
            progress: 0,
            next_step: later(now, step_interval),
            steps: steps.max(1),
            step_interval,
        }
    }

    /// Takes one step at `now`; returns the new progress (100 when done).
    pub fn advance(&mut self, now: Timestamp) -> u8 {
        let step = 100 / u16::from(self.steps);
        let progress = (u16::from(self.progress) + step).min(100) as u8;
        // The last step always ends at 100 whatever the rounding.
        self.progress = if 100 - progress < step as u8 {
            100
        } else {
            progress
        };
        self.next_step = later(now, self.step_interval);
        self.progress
    }

    /// statusDetails for the current progress.
    pub fn status_details(&self) -> StatusDetails {
        StatusDetails::from([
            ("operation".to_owned(), FIRMWARE_UPDATE.to_owned()),
            ("progress".to_owned(), self.progress.to_string()),
            ("version".to_owned(), self.version.clone()),
        ])
    }
}

/// `now` plus `delay`.
pub(crate) fn later(now: Timestamp, delay: Duration) -> Timestamp {
    let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
    Timestamp::from_millis(now.millis().saturating_add(delay_ms))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_firmware_update_document_names_the_version() {
        let order = JobOrder::from_document(Some(
            &json!({"operation": "firmware-update", "version": "1.2.0"}),
        ));
        assert_eq!(
            order,
            JobOrder::FirmwareUpdate {
                version: "1.2.0".into()
            }
        );
    }

    #[test]
    fn unknown_or_incomplete_documents_are_unsupported_with_a_reason() {
        let cases = [
            (
                json!({"operation": "reboot"}),
                "unsupported operation 'reboot'",
            ),
            (
                json!({"version": "2"}),
                "the job document has no \"operation\"",
            ),
            (
                json!({"operation": "firmware-update"}),
                "a firmware-update needs a \"version\" string",
            ),
        ];
        for (document, reason) in cases {
            assert_eq!(
                JobOrder::from_document(Some(&document)),
                JobOrder::Unsupported {
                    reason: reason.into()
                },
                "{document}"
            );
        }
    }

    #[test]
    fn a_run_reaches_100_percent_in_its_number_of_steps() {
        for steps in [1u8, 3, 4, 7] {
            let id = JobId::new("fw").expect("valid id");
            let mut run = JobRun::new(
                id,
                "2".into(),
                steps,
                Duration::from_secs(1),
                Timestamp::from_secs(0),
            );
            let progress: Vec<u8> = (1..=steps)
                .map(|i| run.advance(Timestamp::from_secs(u64::from(i))))
                .collect();
            assert_eq!(progress.last(), Some(&100), "{steps} steps: {progress:?}");
            assert!(
                progress.windows(2).all(|w| w[0] < w[1]),
                "{progress:?} rises"
            );
        }
    }
}
