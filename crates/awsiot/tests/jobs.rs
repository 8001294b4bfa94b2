//! The Jobs device API: the documented flow message by message, every rejection code, timers,
//! and the execution state machine's invariants.

use companion_awsiot::jobs::{
    JobStatus, JobsConfig, JobsResponse, JobsService, NewJob, UpdateJobExecutionRequest,
};
use companion_awsiot::{JobId, Outgoing, ThingName, Timestamp, Topic};
use proptest::prelude::*;
use serde_json::{Value, json};

const PREFIX: &str = "$aws/things/plug-1/jobs";

fn thing() -> ThingName {
    ThingName::new("plug-1").expect("valid")
}

fn job(id: &str) -> NewJob {
    NewJob {
        job_id: JobId::new(id).expect("valid"),
        document: json!({"operation": "update", "version": "2.0"}),
        in_progress_timeout_minutes: None,
    }
}

/// The messages as (topic suffix after the jobs prefix, JSON payload).
fn messages(out: &[Outgoing]) -> Vec<(String, Value)> {
    out.iter()
        .map(|o| {
            let suffix = o.topic.strip_prefix(PREFIX).unwrap_or(&o.topic).to_owned();
            (suffix, serde_json::from_slice(&o.payload).expect("json"))
        })
        .collect()
}

fn request(
    service: &mut JobsService,
    suffix: &str,
    payload: &str,
    secs: u64,
) -> Vec<(String, Value)> {
    let topic = format!("{PREFIX}/{suffix}");
    let out = service
        .handle_publish(&topic, payload.as_bytes(), Timestamp::from_secs(secs))
        .expect("a jobs topic");
    messages(&out)
}

fn queued(service: &mut JobsService, id: &str, secs: u64) -> Vec<(String, Value)> {
    messages(
        &service
            .queue(&thing(), job(id), Timestamp::from_secs(secs))
            .expect("queued"),
    )
}

#[test]
fn the_documented_flow_publishes_exactly_these_messages() {
    let mut service = JobsService::default();
    let document = json!({"operation": "update", "version": "2.0"});
    assert_eq!(
        queued(&mut service, "fw-1", 100),
        vec![
            (
                "/notify".to_owned(),
                json!({"timestamp": 100, "jobs": {"QUEUED": [{"jobId": "fw-1", "queuedAt": 100, "lastUpdatedAt": 100, "versionNumber": 1, "executionNumber": 1}]}})
            ),
            (
                "/notify-next".to_owned(),
                json!({"timestamp": 100, "execution": {"jobId": "fw-1", "jobDocument": document, "status": "QUEUED", "queuedAt": 100, "lastUpdatedAt": 100, "versionNumber": 1, "executionNumber": 1}})
            ),
        ]
    );
    assert_eq!(
        request(&mut service, "get", r#"{"clientToken":"g"}"#, 101),
        vec![(
            "/get/accepted".to_owned(),
            json!({"inProgressJobs": [], "queuedJobs": [{"jobId": "fw-1", "queuedAt": 100, "lastUpdatedAt": 100, "versionNumber": 1, "executionNumber": 1}], "timestamp": 101, "clientToken": "g"})
        ),]
    );
    assert_eq!(
        request(
            &mut service,
            "start-next",
            r#"{"clientToken":"s","statusDetails":{"step":"download"},"stepTimeoutInMinutes":5}"#,
            102
        ),
        vec![(
            "/start-next/accepted".to_owned(),
            json!({"execution": {"jobId": "fw-1", "jobDocument": document, "status": "IN_PROGRESS", "statusDetails": {"step": "download"}, "queuedAt": 100, "startedAt": 102, "lastUpdatedAt": 102, "versionNumber": 2, "executionNumber": 1}, "timestamp": 102, "clientToken": "s"})
        )],
        "QUEUED to IN_PROGRESS sends neither notify nor notify-next"
    );
    assert_eq!(
        request(
            &mut service,
            "fw-1/update",
            r#"{"status":"IN_PROGRESS","expectedVersion":"2","statusDetails":{"progress":"50"},"clientToken":"u"}"#,
            103
        ),
        vec![(
            "/fw-1/update/accepted".to_owned(),
            json!({"timestamp": 103, "clientToken": "u"})
        )],
        "the embedded-C library's string expectedVersion is accepted"
    );
    assert_eq!(
        request(
            &mut service,
            "fw-1/update",
            r#"{"status":"SUCCEEDED","expectedVersion":3,"includeJobExecutionState":true,"includeJobDocument":true}"#,
            104
        ),
        vec![
            (
                "/fw-1/update/accepted".to_owned(),
                json!({"executionState": {"status": "SUCCEEDED", "statusDetails": {"progress": "50"}, "versionNumber": 4}, "jobDocument": document, "timestamp": 104})
            ),
            ("/notify".to_owned(), json!({"timestamp": 104, "jobs": {}})),
            ("/notify-next".to_owned(), json!({"timestamp": 104})),
        ]
    );
}

#[test]
fn every_bad_request_gets_its_aws_error_code_and_echoes_the_token() {
    let mut service = JobsService::default();
    queued(&mut service, "fw-1", 1);
    request(&mut service, "start-next", "{}", 2);
    let cases = [
        ("fw-1/update", "{not json", "InvalidJson", None),
        (
            "fw-1/update",
            r#"{"clientToken":"a","status":"QUEUED"}"#,
            "InvalidRequest",
            Some("a"),
        ),
        (
            "fw-1/update",
            r#"{"clientToken":"b","status":"DONE"}"#,
            "InvalidRequest",
            Some("b"),
        ),
        (
            "fw-1/update",
            r#"{"clientToken":"c"}"#,
            "InvalidRequest",
            Some("c"),
        ),
        (
            "fw-1/update",
            r#"{"clientToken":"d","status":"IN_PROGRESS","statusDetails":{"bad key":"x"}}"#,
            "InvalidRequest",
            Some("d"),
        ),
        (
            "fw-1/update",
            r#"{"clientToken":"e","status":"IN_PROGRESS","statusDetails":{"k":""}}"#,
            "InvalidRequest",
            Some("e"),
        ),
        (
            "fw-1/update",
            r#"{"clientToken":"f","status":"IN_PROGRESS","stepTimeoutInMinutes":10081}"#,
            "InvalidRequest",
            Some("f"),
        ),
        (
            "fw-1/update",
            r#"{"clientToken":"g","status":"IN_PROGRESS","expectedVersion":1}"#,
            "VersionMismatch",
            Some("g"),
        ),
        (
            "nope/update",
            r#"{"clientToken":"h","status":"IN_PROGRESS"}"#,
            "ResourceNotFound",
            Some("h"),
        ),
        (
            "nope/get",
            r#"{"clientToken":"i"}"#,
            "ResourceNotFound",
            Some("i"),
        ),
        (
            "start-next",
            r#"{"clientToken":"j","statusDetails":{"k":5}}"#,
            "InvalidRequest",
            Some("j"),
        ),
    ];
    for (suffix, payload, code, token) in cases {
        let out = request(&mut service, suffix, payload, 3);
        assert_eq!(out.len(), 1, "{suffix} {payload}");
        let (topic, body) = &out[0];
        assert_eq!(topic, &format!("/{suffix}/rejected"), "{payload}");
        assert_eq!(body["code"], code, "{suffix} {payload}: {body}");
        assert_eq!(body["clientToken"].as_str(), token, "{payload}");
        assert_eq!(body["timestamp"], 3);
    }
}

#[test]
fn a_version_mismatch_and_a_terminal_update_carry_the_execution_state() {
    let mut service = JobsService::default();
    queued(&mut service, "fw-1", 1);
    let out = request(
        &mut service,
        "fw-1/update",
        r#"{"status":"IN_PROGRESS","expectedVersion":7}"#,
        2,
    );
    assert_eq!(
        out[0].1["executionState"],
        json!({"status": "QUEUED", "versionNumber": 1})
    );
    request(&mut service, "fw-1/update", r#"{"status":"SUCCEEDED"}"#, 3);
    let out = request(
        &mut service,
        "fw-1/update",
        r#"{"status":"IN_PROGRESS"}"#,
        4,
    );
    assert_eq!(out[0].1["code"], "InvalidStateTransition");
    assert_eq!(
        out[0].1["executionState"],
        json!({"status": "SUCCEEDED", "versionNumber": 2})
    );
    let out = request(&mut service, "fw-1/get", "{}", 5);
    assert_eq!(out[0].1["code"], "TerminalStateReached");
}

#[test]
fn queued_to_terminal_can_be_refused_by_configuration() {
    let mut service = JobsService::new(JobsConfig {
        allow_queued_to_terminal: false,
        ..JobsConfig::default()
    });
    queued(&mut service, "fw-1", 1);
    let out = request(&mut service, "fw-1/update", r#"{"status":"FAILED"}"#, 2);
    assert_eq!(out[0].1["code"], "InvalidStateTransition");
}

#[test]
fn an_expired_step_timer_times_the_execution_out() {
    let mut service = JobsService::default();
    queued(&mut service, "fw-1", 0);
    request(
        &mut service,
        "start-next",
        r#"{"stepTimeoutInMinutes":5}"#,
        60,
    );
    assert_eq!(service.next_deadline(), Some(Timestamp::from_secs(360)));
    assert!(
        service.tick(Timestamp::from_secs(359)).is_empty(),
        "not yet"
    );
    let out = messages(&service.tick(Timestamp::from_secs(360)));
    assert_eq!(
        out,
        vec![
            ("/notify".to_owned(), json!({"timestamp": 360, "jobs": {}})),
            ("/notify-next".to_owned(), json!({"timestamp": 360})),
        ]
    );
    assert_eq!(service.executions(&thing())[0].status, JobStatus::TimedOut);
    assert_eq!(service.next_deadline(), None);
}

#[test]
fn reporting_in_progress_resets_the_step_timer_and_minus_one_cancels_it() {
    let mut service = JobsService::default();
    queued(&mut service, "fw-1", 0);
    request(
        &mut service,
        "start-next",
        r#"{"stepTimeoutInMinutes":1}"#,
        0,
    );
    request(
        &mut service,
        "fw-1/update",
        r#"{"status":"IN_PROGRESS","stepTimeoutInMinutes":2}"#,
        30,
    );
    assert_eq!(service.next_deadline(), Some(Timestamp::from_secs(150)));
    request(
        &mut service,
        "fw-1/update",
        r#"{"status":"IN_PROGRESS","stepTimeoutInMinutes":-1}"#,
        40,
    );
    assert_eq!(service.next_deadline(), None);
}

#[test]
fn the_in_progress_timeout_counts_from_the_start() {
    let mut service = JobsService::default();
    let new = NewJob {
        in_progress_timeout_minutes: Some(10),
        ..job("fw-1")
    };
    service
        .queue(&thing(), new, Timestamp::from_secs(0))
        .expect("queued");
    request(&mut service, "start-next", "", 100);
    assert_eq!(service.next_deadline(), Some(Timestamp::from_secs(700)));
}

#[test]
fn the_next_execution_prefers_in_progress_then_the_oldest_queued() {
    let mut service = JobsService::default();
    queued(&mut service, "a", 1);
    let out = queued(&mut service, "b", 2);
    assert_eq!(out.len(), 1, "b is not next, so only notify: {out:?}");
    let out = request(&mut service, "b/update", r#"{"status":"IN_PROGRESS"}"#, 3);
    assert_eq!(out[1].0, "/notify-next", "b became next by starting");
    assert_eq!(out[1].1["execution"]["jobId"], "b");
    let out = request(
        &mut service,
        "$next/get",
        r#"{"includeJobDocument":false}"#,
        4,
    );
    assert_eq!(out[0].1["execution"]["jobId"], "b");
    assert_eq!(out[0].1["execution"]["thingName"], "plug-1");
    assert!(out[0].1["execution"].get("jobDocument").is_none());
}

#[test]
fn a_job_queued_again_after_it_ended_is_a_new_execution() {
    let mut service = JobsService::default();
    queued(&mut service, "fw-1", 1);
    assert!(
        service
            .queue(&thing(), job("fw-1"), Timestamp::from_secs(2))
            .is_err(),
        "already pending"
    );
    request(&mut service, "fw-1/update", r#"{"status":"FAILED"}"#, 3);
    let out = queued(&mut service, "fw-1", 4);
    assert_eq!(out[0].1["jobs"]["QUEUED"][0]["executionNumber"], 2);
}

#[test]
fn cancelling_notifies_and_ends_the_execution() {
    let mut service = JobsService::default();
    queued(&mut service, "fw-1", 1);
    let id = JobId::new("fw-1").expect("valid");
    let out = messages(
        &service
            .end(&thing(), &id, JobStatus::Canceled, Timestamp::from_secs(2))
            .expect("ended"),
    );
    assert_eq!(
        out[0],
        ("/notify".to_owned(), json!({"timestamp": 2, "jobs": {}}))
    );
    assert!(
        service
            .end(&thing(), &id, JobStatus::Canceled, Timestamp::from_secs(3))
            .is_err(),
        "already ended"
    );
}

#[test]
fn notify_lists_at_most_ten_executions_in_progress_first() {
    let mut service = JobsService::default();
    for i in 0..12 {
        queued(&mut service, &format!("j{i}"), i);
    }
    request(
        &mut service,
        "j11/update",
        r#"{"status":"IN_PROGRESS"}"#,
        20,
    );
    let out = queued(&mut service, "j12", 21);
    let jobs = &out[0].1["jobs"];
    assert_eq!(jobs["IN_PROGRESS"][0]["jobId"], "j11");
    assert_eq!(jobs["QUEUED"].as_array().map(Vec::len), Some(9));
}

#[test]
fn an_unknown_topic_in_the_jobs_namespace_is_an_invalid_topic() {
    let mut service = JobsService::default();
    let out = service
        .handle_publish(
            &format!("{PREFIX}/fw-1/frobnicate"),
            br#"{"clientToken":"z"}"#,
            Timestamp::from_secs(9),
        )
        .expect("answered");
    assert_eq!(out[0].topic, format!("{PREFIX}/fw-1/frobnicate/rejected"));
    let body: Value = serde_json::from_slice(&out[0].payload).expect("json");
    assert_eq!(
        (body["code"].as_str(), body["clientToken"].as_str()),
        (Some("InvalidTopic"), Some("z"))
    );
    assert!(
        service
            .handle_publish(&format!("{PREFIX}/notify"), b"{}", Timestamp::from_secs(9))
            .is_none()
    );
    assert!(
        service
            .handle_publish(
                "$aws/things/plug-1/shadow/get",
                b"{}",
                Timestamp::from_secs(9)
            )
            .is_none()
    );
}

#[test]
fn a_client_reads_every_service_message_with_the_wire_types() {
    let mut service = JobsService::default();
    let mut out = service
        .queue(&thing(), job("fw-1"), Timestamp::from_secs(1))
        .expect("queued");
    out.extend(
        service
            .handle_publish(
                &format!("{PREFIX}/start-next"),
                b"{}",
                Timestamp::from_secs(2),
            )
            .expect("handled"),
    );
    let update = UpdateJobExecutionRequest {
        status: JobStatus::Succeeded,
        status_details: None,
        expected_version: None,
        execution_number: None,
        include_job_execution_state: Some(true),
        include_job_document: None,
        step_timeout_in_minutes: None,
        client_token: Some("c".into()),
    };
    let bytes = serde_json::to_vec(&update).expect("json");
    out.extend(
        service
            .handle_publish(
                &format!("{PREFIX}/fw-1/update"),
                &bytes,
                Timestamp::from_secs(3),
            )
            .expect("handled"),
    );
    out.extend(
        service
            .handle_publish(
                &format!("{PREFIX}/fw-1/get"),
                b"{}",
                Timestamp::from_secs(4),
            )
            .expect("handled"),
    );
    let parsed: Vec<JobsResponse> = out
        .iter()
        .map(|o| {
            let Ok(Topic::Jobs(topic)) = Topic::parse(&o.topic) else {
                panic!("jobs topic {}", o.topic)
            };
            JobsResponse::parse(&topic, &o.payload)
                .expect("parses")
                .expect("a service message")
        })
        .collect();
    assert!(
        matches!(parsed.last(), Some(JobsResponse::Rejected(_, e)) if e.code == companion_awsiot::jobs::JobsErrorCode::TerminalStateReached)
    );
    assert!(parsed.iter().any(|r| matches!(r, JobsResponse::Update(u) if u.execution_state.as_ref().map(|s| s.status) == Some(JobStatus::Succeeded))));
}

fn device_update() -> impl Strategy<Value = String> {
    let status = prop_oneof![
        Just("IN_PROGRESS"),
        Just("SUCCEEDED"),
        Just("FAILED"),
        Just("REJECTED"),
        Just("QUEUED"),
        Just("TIMED_OUT")
    ];
    (status, proptest::option::of(0u64..6)).prop_map(|(s, v)| match v {
        Some(v) => format!(r#"{{"status":"{s}","expectedVersion":{v}}}"#),
        None => format!(r#"{{"status":"{s}"}}"#),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_terminal_execution_never_changes_and_versions_only_grow(updates in proptest::collection::vec(device_update(), 1..10)) {
        let mut service = JobsService::default();
        queued(&mut service, "fw-1", 0);
        let mut last = service.executions(&thing())[0].clone();
        for (i, payload) in updates.iter().enumerate() {
            let out = request(&mut service, "fw-1/update", payload, 1 + i as u64);
            let now = service.executions(&thing())[0].clone();
            if out[0].0.ends_with("/rejected") {
                prop_assert_eq!(&now, &last, "a rejected update changed the execution");
            } else {
                prop_assert!(!last.status.is_terminal(), "an update of a terminal execution was accepted");
                prop_assert_eq!(now.version_number, last.version_number + 1);
            }
            last = now;
        }
    }
}

#[test]
fn the_device_helpers_build_requests_and_the_sdk_filters() {
    use companion_awsiot::jobs::{JobTarget, StartNextPendingJobExecutionRequest, client};
    use companion_awsiot::topic::JobsApi;
    let id = JobId::new("fw-1").expect("valid");
    assert_eq!(
        client::response_filters(&thing(), &JobTarget::Id(id.clone()))[2],
        "$aws/things/plug-1/jobs/fw-1/get/+"
    );
    assert_eq!(
        client::notification_filters(&thing()),
        vec![
            "$aws/things/plug-1/jobs/notify",
            "$aws/things/plug-1/jobs/notify-next"
        ]
    );
    let mut service = JobsService::default();
    queued(&mut service, "fw-1", 0);
    let start = client::request(
        &thing(),
        JobsApi::StartNext,
        &StartNextPendingJobExecutionRequest::default(),
    )
    .expect("encodes");
    let out = service
        .handle_publish(&start.topic, &start.payload, Timestamp::from_secs(1))
        .expect("handled");
    assert_eq!(out[0].topic, "$aws/things/plug-1/jobs/start-next/accepted");
    let done = client::update(&thing(), &id, &json!({"status": "SUCCEEDED"})).expect("encodes");
    let out = service
        .handle_publish(&done.topic, &done.payload, Timestamp::from_secs(2))
        .expect("handled");
    assert_eq!(out[0].topic, "$aws/things/plug-1/jobs/fw-1/update/accepted");
}
