//! The device side of the Jobs API: request messages and the filters to subscribe to.

use serde::Serialize;

use crate::topic::{JobTarget, JobsApi, JobsMessage, JobsTopic};
use crate::{Error, JobId, Outgoing, ThingName, Topic};

/// The filters the Python SDK V2 jobs client uses for responses to `job_id`'s requests and
/// the pending-list requests: `get/+`, `start-next/+`, `{jobId}/get/+`, `{jobId}/update/+`.
pub fn response_filters(thing: &ThingName, job_id: &JobTarget) -> Vec<String> {
    let prefix = format!("$aws/things/{thing}/jobs");
    vec![
        format!("{prefix}/get/+"),
        format!("{prefix}/start-next/+"),
        format!("{prefix}/{job_id}/get/+"),
        format!("{prefix}/{job_id}/update/+"),
    ]
}

/// The two notification topics, `notify` and `notify-next`.
pub fn notification_filters(thing: &ThingName) -> Vec<String> {
    [JobsMessage::Notify, JobsMessage::NotifyNext]
        .into_iter()
        .map(|m| JobsTopic::new(thing.clone(), m).to_string())
        .collect()
}

/// A request to `api` with `payload` (one of the request types in [`super::wire`]).
pub fn request<T: Serialize>(
    thing: &ThingName,
    api: JobsApi,
    payload: &T,
) -> Result<Outgoing, Error> {
    let bytes = serde_json::to_vec(payload).map_err(|e| Error::Encode {
        what: "jobs request",
        detail: e.to_string(),
    })?;
    let topic = Topic::Jobs(JobsTopic::new(thing.clone(), JobsMessage::Request(api)));
    Ok(Outgoing::new(&topic, bytes))
}

/// Shorthand for an UpdateJobExecution request on `job_id`.
pub fn update<T: Serialize>(
    thing: &ThingName,
    job_id: &JobId,
    payload: &T,
) -> Result<Outgoing, Error> {
    request(thing, JobsApi::Update(job_id.clone()), payload)
}
