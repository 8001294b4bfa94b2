//! Reserved topics: exact strings for documented examples, and parse/build round trips.

use companion_awsiot::topic::{
    JobTarget, JobsApi, JobsMessage, JobsTopic, LifecycleEventKind, LifecycleTopic, PayloadFormat,
    ProvisioningApi, ProvisioningTopic, ShadowKind, ShadowMessage, ShadowOperation, ShadowTopic,
};
use companion_awsiot::{ClientId, JobId, Outcome, ShadowName, TemplateName, ThingName, Topic};
use proptest::prelude::*;

fn thing(s: &str) -> ThingName {
    ThingName::new(s).expect("valid thing name")
}

#[test]
fn every_documented_topic_parses_and_renders_back_identically() {
    let topics = [
        "$aws/things/lamp/shadow/get",
        "$aws/things/lamp/shadow/get/accepted",
        "$aws/things/lamp/shadow/get/rejected",
        "$aws/things/lamp/shadow/update",
        "$aws/things/lamp/shadow/update/accepted",
        "$aws/things/lamp/shadow/update/rejected",
        "$aws/things/lamp/shadow/update/delta",
        "$aws/things/lamp/shadow/update/documents",
        "$aws/things/lamp/shadow/delete",
        "$aws/things/lamp/shadow/delete/accepted",
        "$aws/things/lamp/shadow/delete/rejected",
        "$aws/things/lamp/shadow/name/config/update/delta",
        "$aws/things/lamp/shadow/name/$cfg/get",
        "$aws/things/lamp/jobs/get",
        "$aws/things/lamp/jobs/get/accepted",
        "$aws/things/lamp/jobs/start-next",
        "$aws/things/lamp/jobs/start-next/rejected",
        "$aws/things/lamp/jobs/$next/get",
        "$aws/things/lamp/jobs/$next/get/accepted",
        "$aws/things/lamp/jobs/fw-2/get",
        "$aws/things/lamp/jobs/fw-2/update",
        "$aws/things/lamp/jobs/fw-2/update/accepted",
        "$aws/things/lamp/jobs/notify",
        "$aws/things/lamp/jobs/notify-next",
        "$aws/certificates/create/json",
        "$aws/certificates/create/cbor/accepted",
        "$aws/certificates/create-from-csr/json/rejected",
        "$aws/provisioning-templates/Fleet_1/provision/json",
        "$aws/provisioning-templates/Fleet_1/provision/cbor/accepted",
        "$aws/events/presence/connected/lamp",
        "$aws/events/presence/disconnected/lamp",
        "$aws/events/presence/connect_failed/lamp",
        "$aws/events/subscriptions/subscribed/lamp",
        "$aws/events/subscriptions/unsubscribed/a/b",
    ];
    for topic in topics {
        let parsed = Topic::parse(topic).unwrap_or_else(|e| panic!("{topic}: {e}"));
        assert_eq!(parsed.to_string(), topic, "round trip of {topic}");
    }
}

#[test]
fn builders_give_the_exact_aws_strings() {
    let named = ShadowKind::Named(ShadowName::new("config").expect("valid"));
    let cases: Vec<(Topic, &str)> = vec![
        (
            ShadowTopic::new(
                thing("HelloWorld"),
                ShadowKind::Classic,
                ShadowMessage::Delta,
            )
            .into(),
            "$aws/things/HelloWorld/shadow/update/delta",
        ),
        (
            ShadowTopic::new(
                thing("t"),
                named,
                ShadowMessage::Response(ShadowOperation::Get, Outcome::Rejected),
            )
            .into(),
            "$aws/things/t/shadow/name/config/get/rejected",
        ),
        (
            JobsTopic::new(
                thing("t"),
                JobsMessage::Response(JobsApi::Describe(JobTarget::Next), Outcome::Accepted),
            )
            .into(),
            "$aws/things/t/jobs/$next/get/accepted",
        ),
        (
            ProvisioningTopic::new(
                ProvisioningApi::RegisterThing(TemplateName::new("tmpl").expect("valid")),
                PayloadFormat::Json,
                None,
            )
            .into(),
            "$aws/provisioning-templates/tmpl/provision/json",
        ),
        (
            LifecycleTopic::new(
                LifecycleEventKind::Connected,
                ClientId::new("c1").expect("valid"),
            )
            .into(),
            "$aws/events/presence/connected/c1",
        ),
    ];
    for (topic, expected) in cases {
        assert_eq!(topic.to_string(), expected);
    }
}

#[test]
fn non_reserved_or_malformed_topics_are_refused() {
    let bad = [
        "",
        "sensors/lamp/telemetry",
        "$aws/things/lamp/shadow",
        "$aws/things/lamp/shadow/update/accepted/extra",
        "$aws/things/lamp/shadow/name/config",
        "$aws/things/bad name/shadow/get",
        "$aws/things/lamp/shadow/name/a b/get",
        "$aws/things/lamp/shadow/patch",
        "$aws/things/lamp/jobs",
        "$aws/things/lamp/jobs/a:b/get",
        "$aws/things/lamp/jobs/$next/update",
        "$aws/things/lamp/jobs/x/delete",
        "$aws/certificates/create/xml",
        "$aws/certificates/create/json/maybe",
        "$aws/provisioning-templates/t/provision",
        "$aws/events/presence/connected/",
        "$aws/events/presence/connected",
        "$aws/events/presence/subscribed/c",
        "$aws/events/presence/connected/a+b",
    ];
    for topic in bad {
        assert!(Topic::parse(topic).is_err(), "{topic:?} must not parse");
    }
}

#[test]
fn a_job_named_like_an_api_is_still_a_job() {
    let parsed = Topic::parse("$aws/things/t/jobs/get/get").expect("parses");
    let expected = JobsTopic::new(
        thing("t"),
        JobsMessage::Request(JobsApi::Describe(JobTarget::Id(
            JobId::new("get").expect("valid"),
        ))),
    );
    assert_eq!(parsed, Topic::Jobs(expected));
}

fn thing_name() -> impl Strategy<Value = ThingName> {
    "[a-zA-Z0-9:_-]{1,128}".prop_map(|s| ThingName::new(s).expect("strategy yields valid names"))
}

fn shadow_kind() -> impl Strategy<Value = ShadowKind> {
    prop_oneof![
        Just(ShadowKind::Classic),
        "[$a-zA-Z0-9:_-]{1,64}".prop_map(|s| ShadowKind::Named(ShadowName::new(s).expect("valid"))),
    ]
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![Just(Outcome::Accepted), Just(Outcome::Rejected)]
}

fn shadow_message() -> impl Strategy<Value = ShadowMessage> {
    let op = prop_oneof![
        Just(ShadowOperation::Get),
        Just(ShadowOperation::Update),
        Just(ShadowOperation::Delete)
    ];
    prop_oneof![
        op.clone().prop_map(ShadowMessage::Request),
        (op, outcome()).prop_map(|(o, r)| ShadowMessage::Response(o, r)),
        Just(ShadowMessage::Delta),
        Just(ShadowMessage::Documents),
    ]
}

fn job_id() -> impl Strategy<Value = JobId> {
    "[a-zA-Z0-9_-]{1,64}".prop_map(|s| JobId::new(s).expect("valid"))
}

fn jobs_api() -> impl Strategy<Value = JobsApi> {
    prop_oneof![
        Just(JobsApi::GetPending),
        Just(JobsApi::StartNext),
        Just(JobsApi::Describe(JobTarget::Next)),
        job_id().prop_map(|id| JobsApi::Describe(JobTarget::Id(id))),
        job_id().prop_map(JobsApi::Update),
    ]
}

fn jobs_message() -> impl Strategy<Value = JobsMessage> {
    prop_oneof![
        jobs_api().prop_map(JobsMessage::Request),
        (jobs_api(), outcome()).prop_map(|(a, o)| JobsMessage::Response(a, o)),
        Just(JobsMessage::Notify),
        Just(JobsMessage::NotifyNext),
    ]
}

fn provisioning() -> impl Strategy<Value = ProvisioningTopic> {
    let api = prop_oneof![
        Just(ProvisioningApi::CreateKeysAndCertificate),
        Just(ProvisioningApi::CreateCertificateFromCsr),
        "[0-9A-Za-z_-]{1,36}"
            .prop_map(|s| ProvisioningApi::RegisterThing(TemplateName::new(s).expect("valid"))),
    ];
    let format = prop_oneof![Just(PayloadFormat::Json), Just(PayloadFormat::Cbor)];
    (api, format, proptest::option::of(outcome()))
        .prop_map(|(a, f, o)| ProvisioningTopic::new(a, f, o))
}

fn lifecycle() -> impl Strategy<Value = LifecycleTopic> {
    let kind = prop_oneof![
        Just(LifecycleEventKind::Connected),
        Just(LifecycleEventKind::Disconnected),
        Just(LifecycleEventKind::ConnectFailed),
        Just(LifecycleEventKind::Subscribed),
        Just(LifecycleEventKind::Unsubscribed),
    ];
    (kind, "[a-zA-Z0-9/_.-]{1,64}")
        .prop_map(|(k, c)| LifecycleTopic::new(k, ClientId::new(c).expect("valid")))
}

fn any_topic() -> impl Strategy<Value = Topic> {
    prop_oneof![
        (thing_name(), shadow_kind(), shadow_message())
            .prop_map(|(t, k, m)| Topic::Shadow(ShadowTopic::new(t, k, m))),
        (thing_name(), jobs_message()).prop_map(|(t, m)| Topic::Jobs(JobsTopic::new(t, m))),
        provisioning().prop_map(Topic::Provisioning),
        lifecycle().prop_map(Topic::Lifecycle),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn building_then_parsing_any_topic_gives_it_back(topic in any_topic()) {
        let rendered = topic.to_string();
        prop_assert_eq!(Topic::parse(&rendered), Ok(topic), "rendered {}", rendered);
    }

    #[test]
    fn parsing_arbitrary_strings_never_panics_and_round_trips_when_it_succeeds(s in "\\PC{0,80}") {
        if let Ok(topic) = Topic::parse(&s) {
            prop_assert_eq!(topic.to_string(), s);
        }
    }

    #[test]
    fn parsing_topic_like_strings_round_trips_when_it_succeeds(
        parts in proptest::collection::vec(prop_oneof![
            Just("$aws".to_owned()), Just("things".to_owned()), Just("shadow".to_owned()),
            Just("jobs".to_owned()), Just("name".to_owned()), Just("update".to_owned()),
            Just("get".to_owned()), Just("accepted".to_owned()), Just("$next".to_owned()),
            Just("json".to_owned()), Just("events".to_owned()), Just("presence".to_owned()),
            "[a-z]{1,3}".prop_map(|s| s),
        ], 1..8)
    ) {
        let s = parts.join("/");
        if let Ok(topic) = Topic::parse(&s) {
            prop_assert_eq!(topic.to_string(), s);
        }
    }
}
