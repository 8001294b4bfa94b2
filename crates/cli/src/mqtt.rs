//! `companion pub` and `companion sub`: MQTT from the command line, through the engine's session
//! (so AWS's limits are checked before sending and failures are diagnosed).

use std::time::Duration;

use clap::Args;
use companion_core::doctor::Diagnosis;
use companion_core::session::{
    ConnectionState, Message, QoS, Session, SessionHandle, SessionOptions,
};
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::connection::ConnectionArgs;
use crate::{CliError, output};

/// How long to wait for the first connection before giving up with the diagnosis.
const CONNECT_WITHIN: Duration = Duration::from_secs(15);

/// Arguments of `companion pub`.
#[derive(Debug, Args)]
pub struct PubArgs {
    /// The topic to publish to.
    topic: String,
    /// The message.
    message: String,
    /// QoS 0 or 1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    qos: u8,
    /// Ask the broker to keep the message for later subscribers.
    #[arg(long)]
    retain: bool,
    #[command(flatten)]
    connection: ConnectionArgs,
}

/// Arguments of `companion sub`.
#[derive(Debug, Args)]
pub struct SubArgs {
    /// Topic filters to subscribe to (`+` and `#` wildcards).
    #[arg(required = true)]
    filters: Vec<String>,
    /// Stop after this many messages (default: run until Ctrl-C).
    #[arg(long)]
    count: Option<usize>,
    /// Give up after this many seconds; with --count, fewer messages than asked exits 5.
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// Print each message as one line of JSON (`topic`, `payload`, `qos`, `retain`).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connection: ConnectionArgs,
}

/// A connected session and the task running it.
pub struct Connected {
    session: SessionHandle,
    running: JoinHandle<ConnectionState>,
}

impl Connected {
    /// The session.
    pub fn session(&self) -> &SessionHandle {
        &self.session
    }

    /// Disconnects and waits until the queued packets and the DISCONNECT have left.
    pub async fn close(self) {
        self.session.disconnect();
        let _ = self.running.await;
    }
}

/// Publishes one message and disconnects.
pub async fn publish(args: PubArgs) -> Result<(), CliError> {
    let connected = connect(&args.connection).await?;
    let qos = if args.qos == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    };
    let payload = args.message.into_bytes();
    let sent = connected
        .session
        .publish(args.topic.clone(), payload, qos, args.retain)
        .await;
    connected.close().await;
    sent.map_err(|e| CliError::Refused(e.to_string()))
}

/// Prints messages on `filters` until `--count` is reached or the session ends.
pub async fn subscribe(args: SubArgs) -> Result<(), CliError> {
    let connected = connect(&args.connection).await?;
    let session = &connected.session;
    let filters = args
        .filters
        .iter()
        .map(|f| (f.clone(), QoS::AtLeastOnce))
        .collect();
    session
        .subscribe_many(filters)
        .await
        .map_err(|e| CliError::Refused(e.to_string()))?;
    let messages = session.messages();
    let mut printed = 0;
    let receive = async {
        while args.count.is_none_or(|count| printed < count) {
            let Some(message) = messages.recv().await else {
                break;
            };
            print_message(&message, args.json);
            printed += 1;
        }
    };
    let finished = match args.timeout {
        Some(seconds) => tokio::time::timeout(Duration::from_secs(seconds), receive)
            .await
            .is_ok(),
        None => {
            receive.await;
            true
        }
    };
    connected.close().await;
    match (finished, args.count) {
        (false, Some(count)) => Err(CliError::Timeout(format!(
            "received {printed} of {count} messages within {} s",
            args.timeout.unwrap_or_default()
        ))),
        _ => Ok(()),
    }
}

fn print_message(message: &Message, as_json: bool) {
    let payload = String::from_utf8_lossy(&message.payload);
    if as_json {
        output::json(&json!({
            "topic": message.topic,
            "payload": payload,
            "qos": message.qos as u8,
            "retain": message.retain,
        }));
    } else {
        output::line(&format!("{} {payload}", message.topic));
    }
}

/// Connects and waits for the session to be up; a failure comes back with its diagnosis.
pub async fn connect(args: &ConnectionArgs) -> Result<Connected, CliError> {
    let spec = args.spec().await?;
    let (session, session_loop) = Session::connect(spec, SessionOptions::default())
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let running = tokio::spawn(session_loop.run());
    let mut state = session.state();
    match tokio::time::timeout(CONNECT_WITHIN, connected(&mut state)).await {
        Ok(Ok(())) => Ok(Connected { session, running }),
        Ok(Err(reason)) => Err(CliError::NotRunning(reason)),
        Err(_) => {
            let last = describe(&state.borrow().clone());
            session.disconnect();
            Err(CliError::Timeout(format!(
                "not connected within {} s: {last}",
                CONNECT_WITHIN.as_secs()
            )))
        }
    }
}

/// Connects like [`connect`], but a connection that does not come up in time is "cannot
/// connect" (exit 3) rather than a timeout: for the commands that talk to devices (`telemetry`,
/// `jobs`, `devices`), the missing connection is what to report, with its diagnosis.
pub async fn connect_or_unreachable(args: &ConnectionArgs) -> Result<Connected, CliError> {
    connect(args).await.map_err(|error| match error {
        CliError::Timeout(reason) => CliError::NotRunning(reason),
        other => other,
    })
}

/// What went wrong with a connected session.
#[derive(Debug)]
pub enum Trouble {
    /// The link failed and the session is retrying (it resubscribes by itself).
    Retrying {
        /// Failures since the last CONNACK.
        attempt: u32,
        /// Why.
        cause: Diagnosis,
    },
    /// The session ended for good.
    Ended(String),
}

/// Waits for the next change of `state` that is a failure: a reconnect or the end.
pub async fn trouble(state: &mut watch::Receiver<ConnectionState>) -> Trouble {
    loop {
        if state.changed().await.is_err() {
            return Trouble::Ended("the session ended".to_owned());
        }
        let current = state.borrow_and_update().clone();
        match current {
            ConnectionState::Reconnecting { attempt, cause, .. } => {
                return Trouble::Retrying { attempt, cause };
            }
            ConnectionState::Disconnected { .. } => return Trouble::Ended(describe(&current)),
            ConnectionState::Connecting | ConnectionState::Connected { .. } => {}
        }
    }
}

async fn connected(state: &mut watch::Receiver<ConnectionState>) -> Result<(), String> {
    loop {
        let current = state.borrow_and_update().clone();
        match current {
            ConnectionState::Connected { .. } => return Ok(()),
            ConnectionState::Disconnected { .. } => return Err(describe(&current)),
            ConnectionState::Connecting | ConnectionState::Reconnecting { .. } => {}
        }
        if state.changed().await.is_err() {
            return Err("the session ended".to_owned());
        }
    }
}

/// One line for a connection state: the doctor's summary and fix when something failed.
pub fn describe(state: &ConnectionState) -> String {
    match state {
        ConnectionState::Connecting => "still connecting".to_owned(),
        ConnectionState::Connected { .. } => "connected".to_owned(),
        ConnectionState::Reconnecting { cause, .. } => cause.to_string(),
        ConnectionState::Disconnected { cause: Some(cause) } => cause.to_string(),
        ConnectionState::Disconnected { cause: None } => "disconnected".to_owned(),
    }
}
