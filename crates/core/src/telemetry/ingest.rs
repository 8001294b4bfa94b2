//! The ingest pipeline: a cloneable [`IngestHandle`] in front of a bounded queue, and an
//! [`IngestLoop`] the owner runs, which decodes messages, feeds the UI coalescer and writes
//! batches (one transaction each) when a batch is full or its time is up.
//!
//! Memory is bounded: the queue holds at most `queue_capacity` messages (a full queue drops
//! the new message and counts it), a batch at most `batch_max_messages`, the coalescer one
//! value per series, and the frame channel a few frames.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::coalesce::{Coalescer, Frame, MAX_FRAMES_PER_SECOND};
use super::db::{self, PendingMessage, SeriesCache};
use super::decode::{DecodeOptions, decode};
use super::{Retention, Telemetry};
use crate::store::Store;

/// Frames waiting for the UI; older frames are not worth more room.
const FRAME_QUEUE: usize = 8;

/// One telemetry message as the session received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// The device (from the topic, see [`super::TelemetrySubscriptions::thing_of`]).
    pub thing: String,
    /// When it arrived, epoch milliseconds; the samples' time.
    pub received_ms: i64,
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// How the pipeline batches, bounds and forwards.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Messages waiting for the writer; more are dropped and counted.
    pub queue_capacity: usize,
    /// A batch is written when it holds this many messages...
    pub batch_max_messages: usize,
    /// ...or this long after its first message, whichever comes first.
    pub batch_interval: Duration,
    /// Messages kept per device in the raw log.
    pub raw_log_per_device: usize,
    /// How payloads become series.
    pub decode: DecodeOptions,
    /// UI frames per second at most.
    pub frames_per_second: u32,
    /// What to keep, applied every `retention_every` after a batch.
    pub retention: Retention,
    /// How often retention runs.
    pub retention_every: Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 8192,
            batch_max_messages: 500,
            batch_interval: Duration::from_millis(250),
            raw_log_per_device: 500,
            decode: DecodeOptions::default(),
            frames_per_second: MAX_FRAMES_PER_SECOND,
            retention: Retention::default(),
            retention_every: Duration::from_secs(60),
        }
    }
}

/// Counters of the pipeline, readable at any time through the handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IngestStats {
    /// Messages accepted into the queue.
    pub accepted: u64,
    /// Messages dropped because the queue was full.
    pub dropped: u64,
    /// Messages whose payload gave no series (kept in the raw log only).
    pub undecodable: u64,
    /// Messages in committed batches.
    pub committed_messages: u64,
    /// Samples in committed batches.
    pub committed_samples: u64,
    /// Committed batches.
    pub batches: u64,
    /// Batches that failed to write (their messages are lost; the error is logged).
    pub failed_batches: u64,
    /// UI frames dropped because the UI did not keep up.
    pub dropped_frames: u64,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    dropped: AtomicU64,
    undecodable: AtomicU64,
    committed_messages: AtomicU64,
    committed_samples: AtomicU64,
    batches: AtomicU64,
    failed_batches: AtomicU64,
    dropped_frames: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> IngestStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        IngestStats {
            accepted: get(&self.accepted),
            dropped: get(&self.dropped),
            undecodable: get(&self.undecodable),
            committed_messages: get(&self.committed_messages),
            committed_samples: get(&self.committed_samples),
            batches: get(&self.batches),
            failed_batches: get(&self.failed_batches),
            dropped_frames: get(&self.dropped_frames),
        }
    }
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

/// Offers messages to the pipeline. Cloneable; the loop ends once every handle is dropped.
#[derive(Debug, Clone)]
pub struct IngestHandle {
    queue: mpsc::Sender<Incoming>,
    counters: Arc<Counters>,
}

impl IngestHandle {
    /// Queues `message` without waiting; `false` when the queue is full (the message is
    /// dropped and counted) or the loop has ended.
    pub fn offer(&self, message: Incoming) -> bool {
        match self.queue.try_send(message) {
            Ok(()) => {
                bump(&self.counters.accepted, 1);
                true
            }
            Err(_) => {
                bump(&self.counters.dropped, 1);
                false
            }
        }
    }

    /// Queues `message`, waiting for room (for producers that can slow down, such as a file
    /// import); `false` when the loop has ended.
    pub async fn send(&self, message: Incoming) -> bool {
        let sent = self.queue.send(message).await.is_ok();
        bump(
            if sent {
                &self.counters.accepted
            } else {
                &self.counters.dropped
            },
            1,
        );
        sent
    }

    /// The pipeline's counters now.
    pub fn stats(&self) -> IngestStats {
        self.counters.snapshot()
    }
}

/// The writer side: run it with [`IngestLoop::run`] on the owner's runtime.
#[derive(Debug)]
pub struct IngestLoop {
    store: Store,
    telemetry: Telemetry,
    config: IngestConfig,
    queue: mpsc::Receiver<Incoming>,
    frames: mpsc::Sender<Frame>,
    counters: Arc<Counters>,
    coalescer: Coalescer,
    batch: Vec<PendingMessage>,
    batch_due: Option<Instant>,
    cache: SeriesCache,
    next_retention: Instant,
}

/// Builds the handle, the loop and the frame receiver.
pub(crate) fn pipeline(
    store: Store,
    profile: String,
    config: IngestConfig,
) -> (IngestHandle, IngestLoop, mpsc::Receiver<Frame>) {
    let (queue_tx, queue) = mpsc::channel(config.queue_capacity.max(1));
    let (frames, frames_rx) = mpsc::channel(FRAME_QUEUE);
    let counters = Arc::new(Counters::default());
    let handle = IngestHandle {
        queue: queue_tx,
        counters: Arc::clone(&counters),
    };
    let lp = IngestLoop {
        telemetry: Telemetry::new(store.clone(), profile),
        store,
        coalescer: Coalescer::new(config.frames_per_second),
        batch: Vec::with_capacity(config.batch_max_messages),
        next_retention: Instant::now() + config.retention_every,
        config,
        queue,
        frames,
        counters,
        batch_due: None,
        cache: SeriesCache::default(),
    };
    (handle, lp, frames_rx)
}

impl IngestLoop {
    /// Runs until every handle is dropped, then writes the last batch and returns the
    /// counters.
    pub async fn run(mut self) -> IngestStats {
        loop {
            let frame_due = self.coalescer.next_due(Instant::now().into_std());
            tokio::select! {
                message = self.queue.recv() => match message {
                    Some(message) => self.accept(message).await,
                    None => break,
                },
                () = sleep_until(self.batch_due) => self.flush().await,
                () = sleep_until(frame_due.map(Instant::from_std)) => self.emit_frame(),
            }
        }
        self.flush().await;
        self.emit_frame();
        self.counters.snapshot()
    }

    async fn accept(&mut self, message: Incoming) {
        let readings = match decode(&message.payload, &self.config.decode) {
            Ok(readings) => readings,
            Err(error) => {
                tracing::debug!(thing = %message.thing, %error, "telemetry payload without series");
                bump(&self.counters.undecodable, 1);
                Vec::new()
            }
        };
        for reading in &readings {
            self.coalescer.push(
                &message.thing,
                &reading.series,
                message.received_ms,
                reading.value,
            );
        }
        self.batch.push(PendingMessage {
            thing: message.thing,
            received_ms: message.received_ms,
            topic: message.topic,
            payload: message.payload,
            readings,
        });
        self.batch_due
            .get_or_insert_with(|| Instant::now() + self.config.batch_interval);
        if self.batch.len() >= self.config.batch_max_messages {
            self.flush().await;
        }
    }

    /// Writes the pending batch in one transaction, then runs retention when it is due.
    async fn flush(&mut self) {
        self.batch_due = None;
        if self.batch.is_empty() {
            return;
        }
        let result = db::write_batch(
            self.store.write(),
            self.telemetry.profile(),
            &self.batch,
            &mut self.cache,
            self.config.raw_log_per_device,
            now_ms(),
        )
        .await;
        self.record(result);
        self.batch.clear();
        if Instant::now() >= self.next_retention {
            self.retain().await;
        }
    }

    fn record(&mut self, result: Result<db::Written, sqlx::Error>) {
        match result {
            Ok(written) => {
                bump(&self.counters.committed_messages, written.messages);
                bump(&self.counters.committed_samples, written.samples);
                bump(&self.counters.batches, 1);
            }
            Err(error) => {
                tracing::warn!(%error, messages = self.batch.len(), "a telemetry batch was not written");
                bump(&self.counters.failed_batches, 1);
                self.cache.clear();
            }
        }
    }

    async fn retain(&mut self) {
        self.next_retention = Instant::now() + self.config.retention_every;
        let result = self
            .telemetry
            .apply_retention(&self.config.retention, now_ms())
            .await;
        if let Err(error) = result {
            tracing::warn!(%error, "telemetry retention failed");
        }
    }

    fn emit_frame(&mut self) {
        let Some(frame) = self.coalescer.poll(Instant::now().into_std()) else {
            return;
        };
        match self.frames.try_send(frame) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(_)) => bump(&self.counters.dropped_frames, 1),
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The wall clock in epoch milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
