//! `companion doctor`: tries to connect and says what is wrong and how to fix it.

use std::time::Duration;

use clap::Args;
use companion_core::session::{ConnectionState, Session, SessionOptions};
use serde_json::json;

use crate::connection::ConnectionArgs;
use crate::mqtt::describe;
use crate::{CliError, output};

/// How long the doctor watches the connection.
const WATCH_FOR: Duration = Duration::from_secs(15);

/// Arguments of `companion doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the finding as one line of JSON (`ok`, `cause`, `summary`, `fix`).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connection: ConnectionArgs,
}

/// What the doctor found.
struct Finding {
    ok: bool,
    cause: &'static str,
    summary: String,
    fix: String,
}

/// Connects once, follows the session until it is up or a cause is clear, and reports.
pub async fn run(args: DoctorArgs) -> Result<(), CliError> {
    let spec = args.connection.spec().await?;
    let target = format!("{}:{}", spec.host, spec.port);
    let (session, session_loop) = Session::connect(spec, SessionOptions::default())
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let running = tokio::spawn(session_loop.run());
    let mut state = session.state();
    let finding = tokio::time::timeout(WATCH_FOR, async {
        loop {
            let current = state.borrow_and_update().clone();
            if let Some(finding) = conclude(&current) {
                return finding;
            }
            if state.changed().await.is_err() {
                return conclude(&state.borrow().clone()).unwrap_or_else(ended);
            }
        }
    })
    .await
    .unwrap_or_else(|_| Finding {
        ok: false,
        cause: "timeout",
        summary: format!("No connection within {} s.", WATCH_FOR.as_secs()),
        fix: describe(&state.borrow().clone()),
    });
    session.disconnect();
    let _ = running.await;
    report(&target, &finding, args.json);
    if finding.ok {
        Ok(())
    } else {
        Err(CliError::Failed(format!("{target}: {}", finding.summary)))
    }
}

/// A finding once the state says enough: connected, or failed with a diagnosis.
fn conclude(state: &ConnectionState) -> Option<Finding> {
    match state {
        ConnectionState::Connected { .. } => Some(Finding {
            ok: true,
            cause: "connected",
            summary: "The broker accepted the connection.".to_owned(),
            fix: "Nothing to fix.".to_owned(),
        }),
        ConnectionState::Reconnecting { cause, .. }
        | ConnectionState::Disconnected { cause: Some(cause) } => Some(Finding {
            ok: false,
            cause: cause.cause.code(),
            summary: cause.summary.clone(),
            fix: cause.fix.clone(),
        }),
        ConnectionState::Connecting | ConnectionState::Disconnected { cause: None } => None,
    }
}

fn ended() -> Finding {
    Finding {
        ok: false,
        cause: "ended",
        summary: "The session ended before connecting.".to_owned(),
        fix: "Run the doctor again with -v to see the log.".to_owned(),
    }
}

fn report(target: &str, finding: &Finding, as_json: bool) {
    if as_json {
        output::json(&json!({
            "target": target,
            "ok": finding.ok,
            "cause": finding.cause,
            "summary": finding.summary,
            "fix": finding.fix,
        }));
    } else if finding.ok {
        output::line(&format!("{target}: {}", finding.summary));
    } else {
        output::line(&format!("{target}: {}", finding.summary));
        output::line(&format!("  cause: {}", finding.cause));
        output::line(&format!("  fix:   {}", finding.fix));
    }
}
