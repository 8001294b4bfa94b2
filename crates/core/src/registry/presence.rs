//! Ordering lifecycle events, which AWS may deliver twice or out of order (reference §4.8).
//!
//! A client's `connected` and its `disconnected` carry the same `versionNumber`; the next
//! connection counts on, except after about an hour offline, when the number starts again
//! from 0. So: within an hour of each other, events order by (versionNumber, connect before
//! disconnect); further apart, by timestamp.

/// How far apart two events must be before their timestamps, not their version numbers,
/// decide which is newer (AWS resets `versionNumber` after about an hour offline).
pub const VERSION_RESET_MS: i64 = 3_600_000;

/// The ordering facts of one lifecycle event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceMark {
    /// The event's `versionNumber`.
    pub version: i64,
    /// The event's `timestamp`, epoch milliseconds.
    pub at_ms: i64,
    /// True for `connected`, false for `disconnected`.
    pub connected: bool,
}

impl PresenceMark {
    /// A disconnect ranks after the connect of the same version.
    pub fn rank(self) -> i64 {
        i64::from(!self.connected)
    }

    /// True when this event is newer than `applied` (the newest event applied so far), so
    /// that it should change the thing's presence. Duplicates are not newer.
    pub fn supersedes(self, applied: Option<Self>) -> bool {
        let Some(old) = applied else {
            return true;
        };
        if self.at_ms.abs_diff(old.at_ms) > VERSION_RESET_MS.unsigned_abs() {
            return self.at_ms > old.at_ms;
        }
        (self.version, self.rank()) > (old.version, old.rank())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(version: i64, at_ms: i64) -> PresenceMark {
        PresenceMark {
            version,
            at_ms,
            connected: true,
        }
    }

    fn disconnect(version: i64, at_ms: i64) -> PresenceMark {
        PresenceMark {
            version,
            at_ms,
            connected: false,
        }
    }

    #[test]
    fn events_are_ordered_by_version_then_connect_before_disconnect() {
        let cases = [
            (connect(1, 1_000), None, true, "the first event applies"),
            (
                disconnect(1, 2_000),
                Some(connect(1, 1_000)),
                true,
                "its disconnect follows",
            ),
            (
                connect(1, 1_000),
                Some(disconnect(1, 2_000)),
                false,
                "a late connect is stale",
            ),
            (
                connect(2, 3_000),
                Some(disconnect(1, 2_000)),
                true,
                "the next session is newer",
            ),
            (
                disconnect(1, 2_000),
                Some(connect(2, 3_000)),
                false,
                "an old disconnect is stale",
            ),
            (
                connect(2, 3_000),
                Some(connect(2, 3_000)),
                false,
                "a duplicate is not newer",
            ),
            (
                disconnect(3, 900),
                Some(connect(2, 1_000)),
                true,
                "clock skew within the hour",
            ),
        ];
        for (event, applied, expected, why) in cases {
            assert_eq!(event.supersedes(applied), expected, "{why}");
        }
    }

    #[test]
    fn after_an_hour_offline_the_reset_version_number_is_newer_by_time() {
        let old = disconnect(7, 0);
        let reconnected = connect(0, VERSION_RESET_MS + 5_000);
        assert!(
            reconnected.supersedes(Some(old)),
            "version 0 an hour later is newer"
        );
        assert!(
            !old.supersedes(Some(reconnected)),
            "the old disconnect stays stale even with its higher version"
        );
    }
}
