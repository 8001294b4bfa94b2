//! The sandbox's control API, for what AWS offers over HTTPS rather than MQTT (creating jobs).
//!
//! A running `companion sandbox` answers requests published on its plain listener:
//! `companion/sandbox/jobs/create` with `{"clientToken", "jobId", "targets": [..], "document"}`,
//! answered on `.../accepted` (`{"clientToken"}`) or `.../rejected`
//! (`{"clientToken", "message"}`). The topics sit outside `$aws/`, which stays AWS's own.

use std::time::Duration;

use companion_sandbox::Sandbox;
use companion_sandbox::connect::{Endpoint, mqtt_options};
use rumqttc::{AsyncClient, Event, EventLoop, Packet, QoS};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::CliError;

const CREATE_JOB: &str = "companion/sandbox/jobs/create";
const ACCEPTED: &str = "companion/sandbox/jobs/create/accepted";
const REJECTED: &str = "companion/sandbox/jobs/create/rejected";
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// A request to queue a job for some things.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateJobRequest {
    /// Correlates the answer with the request.
    pub client_token: String,
    /// The job's id.
    pub job_id: String,
    /// The things to run it on.
    pub targets: Vec<String>,
    /// The job document the devices receive.
    pub document: serde_json::Value,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    client_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

/// The control API's connection, subscribed to its requests.
pub struct Control {
    client: AsyncClient,
    events: EventLoop,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").finish_non_exhaustive()
    }
}

impl Control {
    /// Connects to `sandbox` and returns once the broker has confirmed the subscription, so
    /// that a request sent right after the sandbox announces itself is never missed.
    pub async fn start(sandbox: &Sandbox) -> Result<Self, CliError> {
        let (client, mut events) = connect("companion-sandbox-control", &sandbox.plain_endpoint())?;
        client
            .subscribe(CREATE_JOB, QoS::AtLeastOnce)
            .await
            .map_err(|e| CliError::Failed(format!("control API: cannot subscribe: {e}")))?;
        let subscribed = async {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => return Ok(()),
                    Ok(_) => {}
                    Err(error) => {
                        return Err(CliError::Failed(format!(
                            "control API: cannot reach the sandbox's own listener: {error}"
                        )));
                    }
                }
            }
        };
        tokio::time::timeout(ANSWER_WITHIN, subscribed)
            .await
            .unwrap_or_else(|_| {
                Err(CliError::Failed(format!(
                    "control API: the sandbox's broker did not confirm the subscription within {} s",
                    ANSWER_WITHIN.as_secs()
                )))
            })?;
        Ok(Self { client, events })
    }

    /// Serves control requests against `sandbox` until `stop` turns true.
    pub async fn serve(
        self,
        sandbox: &Sandbox,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), CliError> {
        let Self { client, mut events } = self;
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                event = events.poll() => match event {
                    Ok(Event::Incoming(Packet::Publish(publish))) if publish.topic == CREATE_JOB => {
                        let (topic, answer) = create_job(sandbox, &publish.payload).await;
                        let payload = serde_json::to_vec(&answer).unwrap_or_default();
                        let _ = client.publish(topic, QoS::AtLeastOnce, false, payload).await;
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, "control API connection lost; reconnecting");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                },
            }
        }
        let _ = client.disconnect().await;
        Ok(())
    }
}

async fn create_job(sandbox: &Sandbox, payload: &[u8]) -> (&'static str, Answer) {
    let request: CreateJobRequest = match serde_json::from_slice(payload) {
        Ok(request) => request,
        Err(error) => {
            let message = format!("the request is not a valid job creation: {error}");
            return (
                REJECTED,
                Answer {
                    client_token: String::new(),
                    message: Some(message),
                },
            );
        }
    };
    let client_token = request.client_token.clone();
    match sandbox
        .create_job(&request.job_id, request.document, &request.targets)
        .await
    {
        Ok(()) => (
            ACCEPTED,
            Answer {
                client_token,
                message: None,
            },
        ),
        Err(error) => (
            REJECTED,
            Answer {
                client_token,
                message: Some(error.to_string()),
            },
        ),
    }
}

/// Asks the sandbox listening at `endpoint` to queue `request`.
pub async fn request_job(endpoint: &Endpoint, request: &CreateJobRequest) -> Result<(), CliError> {
    let client_id = format!(
        "companion-cli-{}",
        &request.client_token[..8.min(request.client_token.len())]
    );
    let (client, mut events) = connect(&client_id, endpoint)?;
    let payload = serde_json::to_vec(request)
        .map_err(|e| CliError::Failed(format!("cannot encode the request: {e}")))?;
    let exchange = async {
        for topic in [ACCEPTED, REJECTED] {
            client
                .subscribe(topic, QoS::AtLeastOnce)
                .await
                .map_err(mqtt_failed)?;
        }
        client
            .publish(CREATE_JOB, QoS::AtLeastOnce, false, payload)
            .await
            .map_err(mqtt_failed)?;
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    let Ok(answer) = serde_json::from_slice::<Answer>(&publish.payload) else {
                        continue;
                    };
                    if answer.client_token != request.client_token {
                        continue;
                    }
                    return match publish.topic.as_str() {
                        ACCEPTED => Ok(()),
                        _ => Err(CliError::Refused(
                            answer
                                .message
                                .unwrap_or_else(|| "the sandbox refused the job".into()),
                        )),
                    };
                }
                Ok(_) => {}
                Err(error) => {
                    return Err(CliError::NotRunning(format!(
                        "cannot reach the sandbox at {}:{} ({error}); is `companion sandbox` running?",
                        endpoint.host, endpoint.port
                    )));
                }
            }
        }
    };
    let result = tokio::time::timeout(ANSWER_WITHIN, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(CliError::Timeout(format!(
                "the sandbox did not answer within {} s",
                ANSWER_WITHIN.as_secs()
            )))
        });
    let _ = client.disconnect().await;
    result
}

fn connect(client_id: &str, endpoint: &Endpoint) -> Result<(AsyncClient, EventLoop), CliError> {
    let options = mqtt_options(client_id, endpoint)
        .map_err(|e| CliError::Failed(format!("cannot configure the MQTT connection: {e}")))?;
    Ok(AsyncClient::new(options, 16))
}

fn mqtt_failed(error: rumqttc::ClientError) -> CliError {
    CliError::Failed(format!("MQTT request failed: {error}"))
}
