//! The Jobs service: `companion_awsiot::jobs::JobsService` over MQTT, its step and in-progress
//! timers driven by [`JobsService::next_deadline`], and a control-plane command to queue a job
//! for things ([`JobsHandle::create_job`]). Executions are kept in memory: they do not survive
//! a restart of the sandbox.

use companion_awsiot::jobs::{JobsService, NewJob};
use companion_awsiot::{JobId, ThingName, Timestamp};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use super::{ServiceError, ServiceLink, now, stopped};
use crate::connect::Endpoint;

/// Capacity of the command queue of [`JobsHandle`].
const COMMAND_QUEUE: usize = 64;

/// The request topics of the Jobs device API.
pub fn request_filters() -> Vec<String> {
    vec![
        "$aws/things/+/jobs/get".to_owned(),
        "$aws/things/+/jobs/start-next".to_owned(),
        "$aws/things/+/jobs/+/get".to_owned(),
        "$aws/things/+/jobs/+/update".to_owned(),
    ]
}

/// A job to queue.
#[derive(Debug)]
struct CreateJob {
    job_id: JobId,
    document: Value,
    targets: Vec<ThingName>,
    reply: oneshot::Sender<Result<(), ServiceError>>,
}

/// A cloneable handle to the running Jobs service.
#[derive(Debug, Clone)]
pub struct JobsHandle {
    commands: mpsc::Sender<CreateJob>,
}

impl JobsHandle {
    /// Queues job `job_id` with `document` for each thing in `targets`; each target's device
    /// gets `notify` and, when it becomes its next job, `notify-next`. Refused when a name is
    /// invalid or the job is already pending for a target (nothing is queued then).
    pub async fn create_job(
        &self,
        job_id: &str,
        document: Value,
        targets: &[String],
    ) -> Result<(), ServiceError> {
        let refused = |e: &dyn std::fmt::Display| ServiceError::Refused(e.to_string());
        let job_id = JobId::new(job_id).map_err(|e| refused(&e))?;
        let targets = targets
            .iter()
            .map(|t| ThingName::new(t.as_str()).map_err(|e| refused(&e)))
            .collect::<Result<Vec<_>, _>>()?;
        let (reply, answer) = oneshot::channel();
        let command = CreateJob {
            job_id,
            document,
            targets,
            reply,
        };
        self.commands
            .send(command)
            .await
            .map_err(|_| ServiceError::Stopped("jobs"))?;
        answer.await.map_err(|_| ServiceError::Stopped("jobs"))?
    }
}

/// The Jobs service, ready to run.
pub(crate) struct JobsDriver {
    link: ServiceLink,
    service: JobsService,
    commands: mpsc::Receiver<CreateJob>,
}

impl JobsDriver {
    /// Connects to `endpoint`; the handle queues jobs once the driver runs.
    pub(crate) async fn start(endpoint: &Endpoint) -> Result<(Self, JobsHandle), ServiceError> {
        let link = ServiceLink::connect("jobs", endpoint, request_filters()).await?;
        let (sender, commands) = mpsc::channel(COMMAND_QUEUE);
        let driver = Self {
            link,
            service: JobsService::default(),
            commands,
        };
        Ok((driver, JobsHandle { commands: sender }))
    }

    /// Answers requests, queues jobs and fires timers until `shutdown` says stop.
    pub(crate) async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        loop {
            let deadline = self.service.next_deadline().map(instant_of);
            tokio::select! {
                _ = stopped(&mut shutdown) => break,
                publish = self.link.next_publish() => {
                    if let Some(publish) = publish {
                        let out = self.service.handle_publish(&publish.topic, &publish.payload, now());
                        self.link.publish_all(out.unwrap_or_default());
                        self.link.done(publish);
                    }
                }
                Some(command) = self.commands.recv() => self.create(command),
                _ = sleep_until(deadline) => {
                    let out = self.service.tick(now());
                    self.link.publish_all(out);
                }
            }
        }
        self.link.close().await;
    }

    fn create(&mut self, command: CreateJob) {
        let time = now();
        let mut out = Vec::new();
        let mut result = Ok(());
        for thing in &command.targets {
            let job = NewJob {
                job_id: command.job_id.clone(),
                document: command.document.clone(),
                in_progress_timeout_minutes: None,
            };
            match self.service.queue(thing, job, time) {
                Ok(messages) => out.extend(messages),
                Err(error) => result = Err(ServiceError::Refused(error.message)),
            }
        }
        self.link.publish_all(out);
        let _ = command.reply.send(result);
    }
}

fn instant_of(deadline: Timestamp) -> tokio::time::Instant {
    let wait = deadline.millis().saturating_sub(now().millis());
    tokio::time::Instant::now() + std::time::Duration::from_millis(wait)
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
