//! `companion telemetry <thing>`: a device's telemetry as it arrives, one line per reading, and
//! a per-series summary at the end (after `--window` seconds or on Ctrl-C).
//!
//! The topics come from the engine's per-model subscriptions
//! ([`TelemetrySubscriptions::filters_for`]; the defaults fit the sandbox's devices,
//! `dt/companion/{thing}/telemetry`), and every payload is decoded into numeric series by the
//! engine's decoder ([`decode`]: numbers, booleans as 0/1, nested objects with dotted names).

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Args;
use companion_awsiot::ThingName;
use companion_core::doctor::Cause;
use companion_core::session::{Message, QoS};
use companion_core::telemetry::{DecodeOptions, Reading, TelemetrySubscriptions, decode, now_ms};
use serde_json::{Value, json};

use crate::connection::ConnectionArgs;
use crate::mqtt::{Trouble, connect_or_unreachable, trouble};
use crate::sandbox::ShutdownSignal;
use crate::{CliError, output};

/// Arguments of `companion telemetry`.
#[derive(Debug, Args)]
pub struct TelemetryArgs {
    /// The thing whose telemetry to show.
    thing: String,
    /// Stop after this many seconds and print a summary (default: run until Ctrl-C, which
    /// prints the summary too).
    #[arg(long, value_name = "SECONDS")]
    window: Option<u64>,
    /// The device's model, when its telemetry topics depend on it.
    #[arg(long)]
    model: Option<String>,
    /// A topic pattern to use instead of the defaults, `{thing}` standing for the thing name
    /// (repeat for several), e.g. 'dt/acme/{thing}/+'.
    #[arg(long = "topic", value_name = "PATTERN")]
    topics: Vec<String>,
    /// Print each reading as one line of JSON (`time`, `timestampMs`, `thing`, `series`,
    /// `value`), and the summary as a last line with a `summary` key.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connection: ConnectionArgs,
}

/// What was seen of one series.
#[derive(Debug, Clone, PartialEq)]
struct SeriesStats {
    count: u64,
    min: f64,
    max: f64,
    last: f64,
}

impl SeriesStats {
    fn new(value: f64) -> Self {
        Self {
            count: 1,
            min: value,
            max: value,
            last: value,
        }
    }

    fn add(&mut self, value: f64) {
        self.count += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.last = value;
    }
}

/// Everything received in one run.
#[derive(Debug, Default)]
struct Summary {
    messages: u64,
    skipped: u64,
    series: BTreeMap<String, SeriesStats>,
}

impl Summary {
    fn add(&mut self, readings: &[Reading]) {
        self.messages += 1;
        for reading in readings {
            match self.series.get_mut(&reading.series) {
                Some(stats) => stats.add(reading.value),
                None => {
                    let stats = SeriesStats::new(reading.value);
                    self.series.insert(reading.series.clone(), stats);
                }
            }
        }
    }
}

/// How a run ended.
enum End {
    /// The window closed.
    Window,
    /// Ctrl-C or SIGTERM, this many whole seconds after subscribing.
    Interrupted(u64),
}

/// Runs `companion telemetry …`.
pub async fn run(args: TelemetryArgs) -> Result<(), CliError> {
    let thing = ThingName::new(args.thing.clone()).map_err(|e| CliError::Failed(e.to_string()))?;
    let subscriptions = if args.topics.is_empty() {
        TelemetrySubscriptions::default()
    } else {
        TelemetrySubscriptions::new(args.topics.clone())
    };
    let filters = subscriptions.filters_for(thing.as_str(), args.model.as_deref());
    // Installed before connecting, so that a Ctrl-C while connecting is not lost.
    let signal = ShutdownSignal::install()?;
    let connected = connect_or_unreachable(&args.connection).await?;
    let session = connected.session().clone();
    let subscribed = session
        .subscribe_many(
            filters
                .iter()
                .map(|filter| (filter.clone(), QoS::AtMostOnce))
                .collect(),
        )
        .await
        .map_err(|e| CliError::Refused(e.to_string()));
    let result = match subscribed {
        Ok(()) => follow(&args, &thing, &filters, &session, signal).await,
        Err(error) => Err(error),
    };
    connected.close().await;
    let (summary, end) = result?;
    print_summary(&args, &summary, &end);
    Ok(())
}

/// Prints readings until the window closes, a signal comes or the connection is lost for good.
async fn follow(
    args: &TelemetryArgs,
    thing: &ThingName,
    filters: &[String],
    session: &companion_core::session::SessionHandle,
    signal: ShutdownSignal,
) -> Result<(Summary, End), CliError> {
    let messages = session.messages();
    let mut state = session.state();
    let mut summary = Summary::default();
    let started = std::time::Instant::now();
    let window = async {
        match args.window {
            Some(seconds) => tokio::time::sleep(Duration::from_secs(seconds)).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(window);
    let interrupted = signal.wait();
    tokio::pin!(interrupted);
    if !args.json {
        output::error(&format!(
            "following {} on {}{}",
            thing,
            filters.join(", "),
            if args.window.is_some() {
                ""
            } else {
                " (Ctrl-C to stop)"
            }
        ));
    }
    loop {
        tokio::select! {
            () = &mut window => return Ok((summary, End::Window)),
            _ = &mut interrupted => {
                return Ok((summary, End::Interrupted(started.elapsed().as_secs())));
            }
            message = messages.recv() => match message {
                Some(message) => receive(args, thing, &message, &mut summary),
                None => return Err(CliError::NotRunning("the connection ended".to_owned())),
            },
            trouble = trouble(&mut state) => match trouble {
                Trouble::Retrying { cause, .. } if cause.cause == Cause::SubscribeDenied => {
                    return Err(CliError::Refused(format!(
                        "the broker refused the subscription to {}: {cause}",
                        filters.join(", ")
                    )));
                }
                Trouble::Retrying { attempt: 1, cause } => {
                    output::error(&format!("connection lost, reconnecting: {cause}"));
                }
                Trouble::Retrying { .. } => {}
                Trouble::Ended(reason) => return Err(CliError::NotRunning(reason)),
            },
        }
    }
}

/// Decodes one message and prints its readings.
fn receive(args: &TelemetryArgs, thing: &ThingName, message: &Message, summary: &mut Summary) {
    let readings = match decode(&message.payload, &DecodeOptions::default()) {
        Ok(readings) => readings,
        Err(error) => {
            summary.skipped += 1;
            output::error(&format!("skipped a message on {}: {error}", message.topic));
            return;
        }
    };
    let timestamp_ms = message_time_ms(&message.payload).unwrap_or_else(now_ms);
    let time = output::time_ms(timestamp_ms);
    for reading in &readings {
        if args.json {
            output::json(&json!({
                "time": time,
                "timestampMs": timestamp_ms,
                "thing": thing.as_str(),
                "series": reading.series,
                "value": reading.value,
            }));
        } else {
            output::line(&format!("{time} {} {}", reading.series, reading.value));
        }
    }
    summary.add(&readings);
}

/// The message's own `timestamp` (epoch milliseconds, or seconds when it is that small), if it
/// has one.
fn message_time_ms(payload: &[u8]) -> Option<i64> {
    let value: Value = serde_json::from_slice(payload).ok()?;
    let timestamp = value.get("timestamp")?.as_f64()?;
    // Seconds since the epoch stay below 1e11 until the year 5138; milliseconds are above it
    // after 1973.
    let ms = if timestamp < 1e11 {
        timestamp * 1000.0
    } else {
        timestamp
    };
    if !ms.is_finite() || ms < 0.0 {
        return None;
    }
    // `as` saturates: an absurd time stays an absurd time, never a wrap-around.
    Some(ms.round() as i64)
}

fn print_summary(args: &TelemetryArgs, summary: &Summary, end: &End) {
    let span = match (end, args.window) {
        (End::Window, Some(seconds)) | (&End::Interrupted(seconds), _) => format!("{seconds} s"),
        (End::Window, None) => "this run".to_owned(),
    };
    let nothing =
        (summary.messages == 0).then(|| format!("no telemetry from {} in {span}", args.thing));
    if args.json {
        let series: serde_json::Map<String, Value> = summary
            .series
            .iter()
            .map(|(name, stats)| {
                let stats = json!({
                    "count": stats.count,
                    "min": stats.min,
                    "max": stats.max,
                    "last": stats.last,
                });
                (name.clone(), stats)
            })
            .collect();
        output::json(&json!({
            "summary": {
                "thing": args.thing,
                "windowSecs": args.window,
                "interrupted": matches!(end, End::Interrupted(_)),
                "messages": summary.messages,
                "skipped": summary.skipped,
                "series": series,
                "note": nothing,
            }
        }));
        return;
    }
    if let Some(nothing) = nothing {
        output::line(&format!(
            "{}{nothing}.",
            if summary.skipped > 0 {
                format!("{} unreadable messages and ", summary.skipped)
            } else {
                String::new()
            }
        ));
        return;
    }
    let width = summary
        .series
        .keys()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max("series".len());
    output::line("");
    output::line(&format!(
        "{} message{} from {} in {span}{}:",
        summary.messages,
        if summary.messages == 1 { "" } else { "s" },
        args.thing,
        if summary.skipped > 0 {
            format!(" ({} unreadable, skipped)", summary.skipped)
        } else {
            String::new()
        }
    ));
    output::line(&format!(
        "  {:<width$}  {:>6}  {:>12}  {:>12}  {:>12}",
        "series", "count", "min", "max", "last"
    ));
    for (name, stats) in &summary.series {
        output::line(&format!(
            "  {name:<width$}  {:>6}  {:>12}  {:>12}  {:>12}",
            stats.count, stats.min, stats.max, stats.last
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_keeps_count_min_max_and_last_per_series() {
        let mut summary = Summary::default();
        let reading = |series: &str, value| Reading {
            series: series.to_owned(),
            value,
        };
        summary.add(&[reading("t", 20.5), reading("on", 1.0)]);
        summary.add(&[reading("t", 19.0)]);
        summary.add(&[reading("t", 21.0)]);
        assert_eq!(summary.messages, 3);
        assert_eq!(
            summary.series["t"],
            SeriesStats {
                count: 3,
                min: 19.0,
                max: 21.0,
                last: 21.0
            }
        );
        assert_eq!(summary.series["on"].count, 1);
    }

    #[test]
    fn the_message_time_is_its_timestamp_in_ms_or_s() {
        assert_eq!(
            message_time_ms(br#"{"timestamp":1764430000123}"#),
            Some(1_764_430_000_123)
        );
        assert_eq!(
            message_time_ms(br#"{"timestamp":1764430000}"#),
            Some(1_764_430_000_000),
            "seconds are read as seconds"
        );
        assert_eq!(message_time_ms(br#"{"timestamp":"soon"}"#), None);
        assert_eq!(message_time_ms(br#"{"t":1}"#), None);
        assert_eq!(message_time_ms(b"not json"), None);
    }
}
