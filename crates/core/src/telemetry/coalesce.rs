//! UI events at a bounded rate: the latest value of each series, at most one frame per
//! interval, whatever the message rate. Pure: the caller passes the clock in.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The most frames per second the UI receives.
pub const MAX_FRAMES_PER_SECOND: u32 = 30;

/// Series kept between two frames; further new series wait for the next frame.
pub const MAX_PENDING_SERIES: usize = 10_000;

/// The newest value of one series in a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesUpdate {
    /// The device.
    pub thing: String,
    /// The series name, e.g. `sample.temperature_c`.
    pub series: String,
    /// When the value was received, epoch milliseconds.
    pub at_ms: i64,
    /// The value.
    pub value: f64,
}

/// One UI event: the latest value of every series that changed since the previous frame.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Frame {
    /// Sorted by thing, then series.
    pub updates: Vec<SeriesUpdate>,
}

/// Collects values and releases them as frames no closer together than the interval.
#[derive(Debug, Clone)]
pub struct Coalescer {
    interval: Duration,
    pending: BTreeMap<(String, String), (i64, f64)>,
    last_frame: Option<Instant>,
    overflowed: u64,
}

impl Default for Coalescer {
    fn default() -> Self {
        Self::new(MAX_FRAMES_PER_SECOND)
    }
}

impl Coalescer {
    /// At most `frames_per_second` frames in any second (at least one).
    pub fn new(frames_per_second: u32) -> Self {
        Self {
            interval: frame_interval(frames_per_second),
            pending: BTreeMap::new(),
            last_frame: None,
            overflowed: 0,
        }
    }

    /// The shortest time between two frames.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Records a value; a newer one of the same series replaces it.
    pub fn push(&mut self, thing: &str, series: &str, at_ms: i64, value: f64) {
        let key = (thing.to_owned(), series.to_owned());
        if self.pending.len() >= MAX_PENDING_SERIES && !self.pending.contains_key(&key) {
            self.overflowed += 1;
            return;
        }
        self.pending.insert(key, (at_ms, value));
    }

    /// True when a frame waits to be released.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Values left out because too many series changed within one frame.
    pub fn overflowed(&self) -> u64 {
        self.overflowed
    }

    /// When the next frame may be released: `None` when nothing is pending.
    pub fn next_due(&self, now: Instant) -> Option<Instant> {
        if self.pending.is_empty() {
            return None;
        }
        Some(
            self.last_frame
                .map_or(now, |last| (last + self.interval).max(now)),
        )
    }

    /// The frame, if one is due at `now` and values are pending.
    pub fn poll(&mut self, now: Instant) -> Option<Frame> {
        if self.next_due(now)? > now {
            return None;
        }
        self.last_frame = Some(now);
        let updates = std::mem::take(&mut self.pending)
            .into_iter()
            .map(|((thing, series), (at_ms, value))| SeriesUpdate {
                thing,
                series,
                at_ms,
                value,
            })
            .collect();
        Some(Frame { updates })
    }
}

/// `1 s / rate` rounded up to whole milliseconds, so that `rate` frames never fit in less
/// than a second.
pub fn frame_interval(frames_per_second: u32) -> Duration {
    let rate = u64::from(frames_per_second.max(1));
    Duration::from_millis(1000_u64.div_ceil(rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_holds_only_the_latest_value_of_each_series() {
        let start = Instant::now();
        let mut coalescer = Coalescer::default();
        coalescer.push("t1", "a", 1, 1.0);
        coalescer.push("t1", "a", 2, 2.0);
        coalescer.push("t1", "b", 3, 3.0);
        coalescer.push("t2", "a", 4, 4.0);
        let frame = coalescer
            .poll(start)
            .expect("the first frame is due at once");
        let got: Vec<(&str, &str, f64)> = frame
            .updates
            .iter()
            .map(|u| (u.thing.as_str(), u.series.as_str(), u.value))
            .collect();
        assert_eq!(
            got,
            [("t1", "a", 2.0), ("t1", "b", 3.0), ("t2", "a", 4.0)],
            "one update per series, the newest"
        );
        assert!(!coalescer.has_pending(), "the frame took everything");
    }

    #[test]
    fn a_flood_of_values_gives_at_most_thirty_frames_per_second() {
        let start = Instant::now();
        let mut coalescer = Coalescer::default();
        let mut frames = 0;
        // 10,000 messages per second for 3 seconds, polled after every message.
        for i in 0..30_000_u64 {
            let now = start + Duration::from_micros(i * 100);
            coalescer.push("t", "v", i64::try_from(i).unwrap_or(0), 1.0);
            if coalescer.poll(now).is_some() {
                frames += 1;
            }
        }
        assert!(
            (88..=90).contains(&frames),
            "3 s at 30 frames per second gives 88 to 90 frames, got {frames}"
        );
    }

    #[test]
    fn no_frame_is_released_before_the_interval_or_without_values() {
        let start = Instant::now();
        let mut coalescer = Coalescer::new(30);
        assert_eq!(coalescer.poll(start), None, "nothing pending, no frame");
        coalescer.push("t", "v", 0, 1.0);
        assert!(
            coalescer.poll(start).is_some(),
            "the first value goes out at once"
        );
        coalescer.push("t", "v", 1, 2.0);
        let early = start + Duration::from_millis(33);
        assert_eq!(coalescer.poll(early), None, "33 ms is too soon");
        assert_eq!(
            coalescer.next_due(early),
            Some(start + Duration::from_millis(34)),
            "the next frame is due 34 ms after the last"
        );
        let frame = coalescer
            .poll(start + Duration::from_millis(34))
            .expect("a frame at 34 ms");
        assert_eq!(frame.updates[0].value, 2.0, "the held value is delivered");
    }

    #[test]
    fn the_interval_never_lets_more_frames_than_the_rate_into_a_second() {
        for rate in [1, 7, 30, 60, 1000] {
            let interval = frame_interval(rate);
            let span = interval * rate;
            assert!(
                span >= Duration::from_secs(1),
                "{rate} frames span {span:?}, at least one second"
            );
        }
    }

    #[test]
    fn too_many_new_series_in_one_frame_are_counted_not_kept() {
        let mut coalescer = Coalescer::default();
        for i in 0..=MAX_PENDING_SERIES {
            coalescer.push("t", &format!("s{i}"), 0, 0.0);
        }
        assert_eq!(
            coalescer.overflowed(),
            1,
            "the series over the cap is counted"
        );
        let frame = coalescer.poll(Instant::now()).expect("a frame");
        assert_eq!(frame.updates.len(), MAX_PENDING_SERIES, "the cap holds");
    }
}
