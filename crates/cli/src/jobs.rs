//! `companion jobs <thing>`: a thing's job executions through the AWS IoT Jobs device MQTT
//! API — GetPendingJobExecutions (`$aws/things/<thing>/jobs/get`) for the queued and running
//! ones, DescribeJobExecution (`…/jobs/<jobId>/get`) for one of them — each request carrying a
//! client token and answered on its `accepted` or `rejected` topic.
//!
//! The requests are the ones a device makes about itself: they show what is pending, not the
//! history (finished executions are answered with `TerminalStateReached`).

use std::time::Duration;

use clap::Args;
use companion_awsiot::jobs::client;
use companion_awsiot::jobs::{
    DescribeJobExecutionRequest, DescribeJobExecutionResponse, GetPendingJobExecutionsRequest,
    GetPendingJobExecutionsResponse, JobExecution, JobExecutionSummary, JobTarget, JobsErrorCode,
    JobsErrorResponse, JobsResponse,
};
use companion_awsiot::topic::{JobsApi, JobsMessage, JobsTopic, Outcome};
use companion_awsiot::{JobId, ThingName, Topic};
use companion_core::doctor::Cause;
use companion_core::registry::observe::progress;
use companion_core::session::{QoS, SessionHandle};
use serde::Serialize;
use serde_json::Value;

use crate::connection::ConnectionArgs;
use crate::mqtt::{Trouble, connect_or_unreachable, trouble};
use crate::{CliError, output};

/// Arguments of `companion jobs`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// The thing whose job executions to show.
    thing: String,
    /// Describe this job's execution on the thing instead: status, statusDetails, progress
    /// (`$next` for the next pending one).
    #[arg(long, value_name = "JOB_ID")]
    job: Option<String>,
    /// Print the Jobs service's response as one line of JSON.
    #[arg(long)]
    json: bool,
    /// How long to wait for the Jobs service's answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    timeout: u64,
    #[command(flatten)]
    connection: ConnectionArgs,
}

/// Runs `companion jobs …`.
pub async fn run(args: JobsArgs) -> Result<(), CliError> {
    let thing = ThingName::new(args.thing.clone()).map_err(invalid)?;
    let target = match args.job.as_deref() {
        None => None,
        Some("$next") => Some(JobTarget::Next),
        Some(id) => Some(JobTarget::Id(JobId::new(id).map_err(invalid)?)),
    };
    let token = uuid::Uuid::new_v4().simple().to_string();
    let connected = connect_or_unreachable(&args.connection).await?;
    let wait = Duration::from_secs(args.timeout);
    let answer = match &target {
        None => {
            let request = GetPendingJobExecutionsRequest {
                client_token: Some(token.clone()),
            };
            ask(
                connected.session(),
                &thing,
                JobsApi::GetPending,
                &request,
                &token,
                wait,
            )
            .await
        }
        Some(target) => {
            let request = DescribeJobExecutionRequest {
                include_job_document: Some(true),
                client_token: Some(token.clone()),
                ..DescribeJobExecutionRequest::default()
            };
            let api = JobsApi::Describe(target.clone());
            ask(connected.session(), &thing, api, &request, &token, wait).await
        }
    };
    connected.close().await;
    match answer? {
        JobsResponse::GetPending(pending) => {
            print_pending(&thing, &pending, args.json);
            Ok(())
        }
        JobsResponse::Describe(described) => {
            print_described(&thing, target.as_ref(), &described, args.json);
            Ok(())
        }
        JobsResponse::Rejected(_, rejection) => {
            if args.json {
                output::json(&to_json(&rejection));
            }
            Err(rejected(&thing, target.as_ref(), &rejection))
        }
        other => Err(CliError::Failed(format!(
            "the Jobs service answered with an unexpected message: {other:?}"
        ))),
    }
}

/// Publishes one request to `api` and waits for its answer (accepted or rejected, matched by
/// client token).
async fn ask<T: Serialize>(
    session: &SessionHandle,
    thing: &ThingName,
    api: JobsApi,
    request: &T,
    token: &str,
    wait: Duration,
) -> Result<JobsResponse, CliError> {
    let answers = [Outcome::Accepted, Outcome::Rejected]
        .into_iter()
        .map(|outcome| {
            let topic = JobsTopic::new(thing.clone(), JobsMessage::Response(api.clone(), outcome));
            (topic.to_string(), QoS::AtLeastOnce)
        })
        .collect();
    let message = client::request(thing, api, request).map_err(invalid)?;
    let messages = session.messages();
    let mut state = session.state();
    // Subscribed before publishing: the broker handles one connection's packets in order.
    session
        .subscribe_many(answers)
        .await
        .map_err(|e| CliError::Refused(e.to_string()))?;
    session
        .publish(message.topic, message.payload, QoS::AtLeastOnce, false)
        .await
        .map_err(|e| CliError::Refused(e.to_string()))?;
    let exchange = async {
        loop {
            tokio::select! {
                received = messages.recv() => {
                    let Some(received) = received else {
                        return Err(CliError::NotRunning("the connection ended before the Jobs service answered".to_owned()));
                    };
                    let Ok(Topic::Jobs(topic)) = Topic::parse(&received.topic) else {
                        continue;
                    };
                    match JobsResponse::parse(&topic, &received.payload) {
                        Ok(Some(response)) if token_of(&response) == Some(token) => return Ok(response),
                        Ok(_) => {}
                        Err(error) => tracing::warn!(topic = %received.topic, %error, "unreadable Jobs answer"),
                    }
                }
                trouble = trouble(&mut state) => match trouble {
                    Trouble::Retrying { cause, .. }
                        if matches!(cause.cause, Cause::SubscribeDenied | Cause::PublishDenied) =>
                    {
                        return Err(CliError::Refused(format!(
                            "the broker refused the Jobs request for {thing}: {cause}"
                        )));
                    }
                    Trouble::Retrying { .. } => {}
                    Trouble::Ended(reason) => return Err(CliError::NotRunning(reason)),
                },
            }
        }
    };
    tokio::time::timeout(wait, exchange).await.unwrap_or_else(|_| {
        Err(CliError::Timeout(format!(
            "the Jobs service did not answer within {} s; check that the broker serves AWS IoT Jobs (the local sandbox and AWS IoT Core do) or raise --timeout",
            wait.as_secs()
        )))
    })
}

/// The client token a response carries.
fn token_of(response: &JobsResponse) -> Option<&str> {
    match response {
        JobsResponse::GetPending(r) => r.client_token.as_deref(),
        JobsResponse::Describe(r) => r.client_token.as_deref(),
        JobsResponse::StartNext(r) => r.client_token.as_deref(),
        JobsResponse::Update(r) => r.client_token.as_deref(),
        JobsResponse::Rejected(_, r) => r.client_token.as_deref(),
        JobsResponse::Notify(_) | JobsResponse::NotifyNext(_) => None,
    }
}

fn print_pending(thing: &ThingName, pending: &GetPendingJobExecutionsResponse, as_json: bool) {
    if as_json {
        output::json(&to_json(pending));
        return;
    }
    let rows: Vec<(&str, &JobExecutionSummary)> = pending
        .in_progress_jobs
        .iter()
        .map(|job| ("IN_PROGRESS", job))
        .chain(pending.queued_jobs.iter().map(|job| ("QUEUED", job)))
        .collect();
    if rows.is_empty() {
        output::line(&format!(
            "No pending jobs for {thing}: nothing is queued or in progress."
        ));
        return;
    }
    let width = rows
        .iter()
        .map(|(_, job)| job.job_id.as_str().len())
        .max()
        .unwrap_or(0)
        .max("JOB ID".len());
    output::row(&format!(
        "{:<11}  {:<width$}  {:>7}  {:<20}  {:<20}",
        "STATUS", "JOB ID", "VERSION", "QUEUED", "UPDATED"
    ));
    for (status, job) in rows {
        output::row(&format!(
            "{status:<11}  {:<width$}  {:>7}  {:<20}  {:<20}",
            job.job_id.as_str(),
            job.version_number,
            secs(job.queued_at),
            secs(job.last_updated_at),
        ));
    }
}

fn print_described(
    thing: &ThingName,
    target: Option<&JobTarget>,
    described: &DescribeJobExecutionResponse,
    as_json: bool,
) {
    if as_json {
        output::json(&to_json(described));
        return;
    }
    let Some(execution) = &described.execution else {
        let which = target.map_or_else(|| "$next".to_owned(), ToString::to_string);
        output::line(&format!(
            "No pending job for {thing} ({which}): nothing is queued or in progress."
        ));
        return;
    };
    describe_execution(thing, execution);
}

fn describe_execution(thing: &ThingName, execution: &JobExecution) {
    let field = |name: &str, value: &str| output::line(&format!("{name:<9} {value}"));
    field(
        "job",
        &format!(
            "{} on {thing} (execution {})",
            execution.job_id, execution.execution_number
        ),
    );
    field("status", execution.status.as_str());
    let details = execution.status_details.as_ref();
    if let Some(percent) = details.and_then(progress) {
        field("progress", &format!("{percent} %"));
    }
    match details.filter(|d| !d.is_empty()) {
        Some(details) => {
            let text: Vec<String> = details.iter().map(|(k, v)| format!("{k}={v}")).collect();
            field("details", &text.join(" "));
        }
        None => field("details", "(none)"),
    }
    field("version", &execution.version_number.to_string());
    field("queued", &secs(execution.queued_at));
    if let Some(started) = execution.started_at {
        field("started", &secs(started));
    }
    field("updated", &secs(execution.last_updated_at));
    if let Some(document) = &execution.job_document {
        field("document", &document.to_string());
    }
}

/// The error for a rejected request: what it means and what to do.
fn rejected(
    thing: &ThingName,
    target: Option<&JobTarget>,
    rejection: &JobsErrorResponse,
) -> CliError {
    let job = target.map_or_else(String::new, ToString::to_string);
    match rejection.code {
        JobsErrorCode::ResourceNotFound => CliError::NotFound(format!(
            "{thing} has no execution of job {job}; `companion jobs {thing}` lists its pending jobs"
        )),
        JobsErrorCode::TerminalStateReached => CliError::Refused(format!(
            "{}: the device Jobs API describes only pending executions; see finished ones in the AWS IoT console or with `aws iot describe-job-execution`",
            rejection.message
        )),
        JobsErrorCode::RequestThrottled => CliError::Refused(format!(
            "the Jobs service is throttling requests ({}); try again in a moment",
            rejection.message
        )),
        code => CliError::Refused(format!(
            "the Jobs service rejected the request ({code:?}): {}",
            rejection.message
        )),
    }
}

fn secs(epoch: u64) -> String {
    output::time_secs(i64::try_from(epoch).unwrap_or(i64::MAX))
}

fn to_json(value: &impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn invalid(error: impl std::fmt::Display) -> CliError {
    CliError::Failed(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejection(code: JobsErrorCode, message: &str) -> JobsErrorResponse {
        JobsErrorResponse {
            code,
            message: message.to_owned(),
            client_token: Some("t".to_owned()),
            timestamp: 0,
            execution_state: None,
        }
    }

    #[test]
    fn rejections_map_to_exit_codes_with_a_sentence_and_the_fix() {
        let thing = ThingName::new("plug-0002").unwrap_or_else(|e| panic!("{e}"));
        let job = JobTarget::Id(JobId::new("fw-1").unwrap_or_else(|e| panic!("{e}")));
        let missing = rejected(
            &thing,
            Some(&job),
            &rejection(JobsErrorCode::ResourceNotFound, "no job execution found"),
        );
        assert_eq!(missing.exit_code(), 6, "not found");
        assert!(missing.to_string().contains("`companion jobs plug-0002`"));
        let finished = rejected(
            &thing,
            Some(&job),
            &rejection(
                JobsErrorCode::TerminalStateReached,
                "job execution fw-1 is in the terminal state SUCCEEDED",
            ),
        );
        assert_eq!(finished.exit_code(), 4, "refused");
        assert!(finished.to_string().contains("SUCCEEDED"), "{finished}");
        let throttled = rejected(
            &thing,
            None,
            &rejection(JobsErrorCode::RequestThrottled, "slow down"),
        );
        assert!(throttled.to_string().contains("try again"), "{throttled}");
    }

    #[test]
    fn answers_are_matched_by_client_token() {
        let answer = JobsResponse::GetPending(GetPendingJobExecutionsResponse {
            in_progress_jobs: Vec::new(),
            queued_jobs: Vec::new(),
            timestamp: 0,
            client_token: Some("mine".to_owned()),
        });
        assert_eq!(token_of(&answer), Some("mine"));
        let rejected = JobsResponse::Rejected(
            JobsApi::GetPending,
            rejection(JobsErrorCode::InvalidJson, "bad"),
        );
        assert_eq!(token_of(&rejected), Some("t"));
    }
}
