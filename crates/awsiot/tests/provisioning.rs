//! Fleet provisioning: the three calls in JSON and CBOR, ownership tokens, and template
//! evaluation.

use std::collections::BTreeMap;

use companion_awsiot::provisioning::{
    CertificateIssuer, CreateKeysAndCertificateResponse, HookDecision, IssuedCertificate,
    ProvisioningErrorResponse, ProvisioningOutcome, ProvisioningService, ProvisioningTemplate,
    RegisterThingRequest, RegisterThingResponse, TOKEN_LIFETIME_SECS, decode, encode,
};
use companion_awsiot::topic::PayloadFormat;
use companion_awsiot::{TemplateName, Timestamp};
use serde_json::{Value, json};

/// A deterministic stand-in CA: numbered certificates and tokens.
#[derive(Debug, Default)]
struct FakeIssuer {
    issued: u32,
    deny: bool,
    overrides: BTreeMap<String, String>,
}

impl FakeIssuer {
    fn issue(&mut self, key: Option<String>) -> IssuedCertificate {
        self.issued += 1;
        let subject = BTreeMap::from([(
            "AWS::IoT::Certificate::CommonName".to_owned(),
            format!("cn-{}", self.issued),
        )]);
        IssuedCertificate {
            certificate_id: format!("cert{}", self.issued),
            certificate_pem: format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                self.issued
            ),
            private_key_pem: key,
            subject_parameters: subject,
        }
    }
}

impl CertificateIssuer for FakeIssuer {
    fn create_keys_and_certificate(
        &mut self,
    ) -> Result<IssuedCertificate, ProvisioningErrorResponse> {
        Ok(self.issue(Some("-----BEGIN PRIVATE KEY-----".into())))
    }

    fn sign_csr(&mut self, csr_pem: &str) -> Result<IssuedCertificate, ProvisioningErrorResponse> {
        if csr_pem.contains("BEGIN CERTIFICATE REQUEST") {
            Ok(self.issue(None))
        } else {
            Err(ProvisioningErrorResponse {
                status_code: 400,
                error_code: "InvalidCsr".into(),
                error_message: "The CSR is not valid PEM.".into(),
            })
        }
    }

    fn ownership_token(&mut self) -> String {
        format!("token-{}", self.issued)
    }

    fn pre_provisioning_hook(
        &mut self,
        _template: &TemplateName,
        _parameters: &BTreeMap<String, String>,
    ) -> HookDecision {
        if self.deny {
            HookDecision::Deny
        } else {
            HookDecision::Allow {
                parameter_overrides: self.overrides.clone(),
            }
        }
    }
}

const TEMPLATE: &str = r#"{
  "Parameters": {
    "SerialNumber": {"Type": "String"},
    "Location": {"Type": "String", "Default": "Seattle"},
    "AWS::IoT::Certificate::Id": {"Type": "String"}
  },
  "Mappings": {"LocationTable": {"Seattle": {"LocationUrl": "https://example.aws"}}},
  "Resources": {
    "thing": {"Type": "AWS::IoT::Thing", "Properties": {
      "ThingName": {"Fn::Join": ["", ["ThingPrefix_", {"Ref": "SerialNumber"}]]},
      "AttributePayload": {"version": "v1", "serialNumber": {"Ref": "SerialNumber"},
                           "cn": {"Ref": "AWS::IoT::Certificate::CommonName"}},
      "ThingGroups": ["v1-lightbulbs", {"Ref": "Location"}]}},
    "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {
      "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"}},
    "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": {"Fn::Sub": "Policy-${Location}"}}}
  },
  "DeviceConfiguration": {
    "FallbackUrl": "https://www.example.com/test-site",
    "LocationUrl": {"Fn::FindInMap": ["LocationTable", {"Ref": "Location"}, "LocationUrl"]},
    "Region": {"Fn::Select": [1, {"Fn::Split": [":", "arn:us-west-2:x"]}]}
  }
}"#;

fn service() -> ProvisioningService {
    let mut service = ProvisioningService::new();
    let template = ProvisioningTemplate::from_json(TEMPLATE).expect("valid template");
    service.add_template(TemplateName::new("Fleet").expect("valid"), template);
    service
}

fn call(
    service: &mut ProvisioningService,
    issuer: &mut FakeIssuer,
    topic: &str,
    payload: &[u8],
    secs: u64,
) -> ProvisioningOutcome {
    service
        .handle_publish(issuer, topic, payload, Timestamp::from_secs(secs))
        .expect("a provisioning request topic")
}

fn json_reply(outcome: &ProvisioningOutcome) -> (String, Value) {
    assert_eq!(outcome.messages.len(), 1, "exactly one reply");
    let message = &outcome.messages[0];
    (
        message.topic.clone(),
        serde_json::from_slice(&message.payload).expect("json"),
    )
}

fn register(
    service: &mut ProvisioningService,
    issuer: &mut FakeIssuer,
    token: &str,
    parameters: &Value,
    secs: u64,
) -> ProvisioningOutcome {
    let payload = json!({"certificateOwnershipToken": token, "parameters": parameters});
    call(
        service,
        issuer,
        "$aws/provisioning-templates/Fleet/provision/json",
        &serde_json::to_vec(&payload).expect("json"),
        secs,
    )
}

#[test]
fn create_keys_then_register_thing_provisions_a_device_from_the_template() {
    let (mut service, mut issuer) = (service(), FakeIssuer::default());
    let created = call(
        &mut service,
        &mut issuer,
        "$aws/certificates/create/json",
        b"",
        10,
    );
    let (topic, body) = json_reply(&created);
    assert_eq!(topic, "$aws/certificates/create/json/accepted");
    assert_eq!(body["certificateId"], "cert1");
    assert_eq!(body["certificateOwnershipToken"], "token-1");
    assert!(
        body["privateKey"]
            .as_str()
            .is_some_and(|k| k.contains("PRIVATE KEY"))
    );
    assert_eq!(created.issued_certificate.as_deref(), Some("cert1"));

    let registered = register(
        &mut service,
        &mut issuer,
        "token-1",
        &json!({"SerialNumber": "123"}),
        20,
    );
    let (topic, body) = json_reply(&registered);
    assert_eq!(
        topic,
        "$aws/provisioning-templates/Fleet/provision/json/accepted"
    );
    assert_eq!(
        body,
        json!({"thingName": "ThingPrefix_123", "deviceConfiguration": {
        "FallbackUrl": "https://www.example.com/test-site", "LocationUrl": "https://example.aws", "Region": "us-west-2"}})
    );
    let registration = registered
        .registration
        .expect("a registration to carry out");
    assert_eq!(registration.certificate_id, "cert1");
    let evaluated = registration.evaluated;
    assert_eq!(
        evaluated.attributes,
        BTreeMap::from([
            ("cn".to_owned(), "cn-1".to_owned()),
            ("serialNumber".to_owned(), "123".to_owned()),
            ("version".to_owned(), "v1".to_owned())
        ])
    );
    assert_eq!(
        evaluated.thing_groups,
        vec!["v1-lightbulbs".to_owned(), "Seattle".to_owned()]
    );
    assert_eq!(evaluated.certificate_status.as_deref(), Some("ACTIVE"));
    assert_eq!(evaluated.policy_name.as_deref(), Some("Policy-Seattle"));

    let again = register(
        &mut service,
        &mut issuer,
        "token-1",
        &json!({"SerialNumber": "123"}),
        21,
    );
    assert_eq!(
        json_reply(&again).1["errorCode"],
        "InvalidCertificateOwnershipToken",
        "a token is used once"
    );
}

#[test]
fn create_from_csr_signs_the_request_and_rejects_a_bad_one() {
    let (mut service, mut issuer) = (service(), FakeIssuer::default());
    let good = json!({"certificateSigningRequest": "-----BEGIN CERTIFICATE REQUEST-----\n..."});
    let outcome = call(
        &mut service,
        &mut issuer,
        "$aws/certificates/create-from-csr/json",
        &serde_json::to_vec(&good).expect("json"),
        1,
    );
    let (topic, body) = json_reply(&outcome);
    assert_eq!(topic, "$aws/certificates/create-from-csr/json/accepted");
    assert_eq!(
        body,
        json!({"certificateOwnershipToken": "token-1", "certificateId": "cert1", "certificatePem": "-----BEGIN CERTIFICATE-----\n1\n-----END CERTIFICATE-----\n"})
    );

    let bad = json!({"certificateSigningRequest": "garbage"});
    let outcome = call(
        &mut service,
        &mut issuer,
        "$aws/certificates/create-from-csr/json",
        &serde_json::to_vec(&bad).expect("json"),
        2,
    );
    assert_eq!(
        json_reply(&outcome),
        (
            "$aws/certificates/create-from-csr/json/rejected".to_owned(),
            json!({"statusCode": 400, "errorCode": "InvalidCsr", "errorMessage": "The CSR is not valid PEM."})
        )
    );
}

#[test]
fn the_cbor_format_carries_the_same_messages() {
    let (mut service, mut issuer) = (service(), FakeIssuer::default());
    let created = call(
        &mut service,
        &mut issuer,
        "$aws/certificates/create/cbor",
        b"",
        1,
    );
    assert_eq!(
        created.messages[0].topic,
        "$aws/certificates/create/cbor/accepted"
    );
    let body: CreateKeysAndCertificateResponse =
        decode(PayloadFormat::Cbor, &created.messages[0].payload).expect("cbor");
    let request = RegisterThingRequest {
        certificate_ownership_token: body.certificate_ownership_token,
        parameters: BTreeMap::from([("SerialNumber".to_owned(), "9".to_owned())]),
    };
    let payload = encode(PayloadFormat::Cbor, &request).expect("cbor");
    let outcome = call(
        &mut service,
        &mut issuer,
        "$aws/provisioning-templates/Fleet/provision/cbor",
        &payload,
        2,
    );
    assert_eq!(
        outcome.messages[0].topic,
        "$aws/provisioning-templates/Fleet/provision/cbor/accepted"
    );
    let reply: RegisterThingResponse =
        decode(PayloadFormat::Cbor, &outcome.messages[0].payload).expect("cbor");
    assert_eq!(reply.thing_name.as_deref(), Some("ThingPrefix_9"));
}

#[test]
fn each_failed_register_thing_gets_a_status_code_and_error_code() {
    let (mut service, mut issuer) = (service(), FakeIssuer::default());
    call(
        &mut service,
        &mut issuer,
        "$aws/certificates/create/json",
        b"{}",
        0,
    );
    let cases = [
        (
            "",
            json!({"SerialNumber": "1"}),
            400,
            "InvalidCertificateOwnershipToken",
            Some("Certificate ownership token cannot be empty."),
        ),
        (
            "nope",
            json!({"SerialNumber": "1"}),
            400,
            "InvalidCertificateOwnershipToken",
            None,
        ),
        ("token-1", json!({}), 400, "InvalidParameters", None),
        (
            "token-1",
            json!({"SerialNumber": "has space"}),
            400,
            "InvalidParameters",
            None,
        ),
    ];
    for (token, parameters, status, code, message) in cases {
        let (_, body) = json_reply(&register(&mut service, &mut issuer, token, &parameters, 1));
        assert_eq!(
            (body["statusCode"].as_u64(), body["errorCode"].as_str()),
            (Some(status), Some(code)),
            "{token} {parameters}"
        );
        if let Some(message) = message {
            assert_eq!(body["errorMessage"], message);
        }
    }
    let unknown = call(
        &mut service,
        &mut issuer,
        "$aws/provisioning-templates/Other/provision/json",
        br#"{"certificateOwnershipToken":"token-1"}"#,
        1,
    );
    assert_eq!(json_reply(&unknown).1["statusCode"], 404);
    let malformed = call(
        &mut service,
        &mut issuer,
        "$aws/provisioning-templates/Fleet/provision/cbor",
        b"\xff\x00",
        1,
    );
    assert_eq!(json_reply_cbor(&malformed).error_code, "InvalidPayload");
}

fn json_reply_cbor(outcome: &ProvisioningOutcome) -> ProvisioningErrorResponse {
    decode(PayloadFormat::Cbor, &outcome.messages[0].payload).expect("cbor")
}

#[test]
fn an_ownership_token_expires_after_an_hour_and_its_certificate_is_released() {
    let (mut service, mut issuer) = (service(), FakeIssuer::default());
    call(
        &mut service,
        &mut issuer,
        "$aws/certificates/create/json",
        b"",
        0,
    );
    let late = register(
        &mut service,
        &mut issuer,
        "token-1",
        &json!({"SerialNumber": "1"}),
        TOKEN_LIFETIME_SECS,
    );
    assert_eq!(
        json_reply(&late).1["errorCode"],
        "InvalidCertificateOwnershipToken"
    );
    assert_eq!(
        service.expire(Timestamp::from_secs(TOKEN_LIFETIME_SECS)),
        vec!["cert1".to_owned()]
    );
    assert!(
        service
            .expire(Timestamp::from_secs(TOKEN_LIFETIME_SECS))
            .is_empty()
    );
}

#[test]
fn the_pre_provisioning_hook_can_refuse_or_override_parameters() {
    let (mut service, mut issuer) = (service(), FakeIssuer::default());
    call(
        &mut service,
        &mut issuer,
        "$aws/certificates/create/json",
        b"",
        0,
    );
    issuer.deny = true;
    let refused = register(
        &mut service,
        &mut issuer,
        "token-1",
        &json!({"SerialNumber": "1"}),
        1,
    );
    assert_eq!(json_reply(&refused).1["statusCode"], 403);
    issuer.deny = false;
    issuer.overrides = BTreeMap::from([("SerialNumber".to_owned(), "OVR".to_owned())]);
    let allowed = register(
        &mut service,
        &mut issuer,
        "token-1",
        &json!({"SerialNumber": "1"}),
        2,
    );
    assert_eq!(json_reply(&allowed).1["thingName"], "ThingPrefix_OVR");
}

#[test]
fn response_topics_and_other_topics_are_not_requests() {
    let (mut service, mut issuer) = (service(), FakeIssuer::default());
    for topic in [
        "$aws/certificates/create/json/accepted",
        "$aws/things/t/shadow/get",
        "plain/topic",
    ] {
        assert!(
            service
                .handle_publish(&mut issuer, topic, b"", Timestamp::from_secs(0))
                .is_none(),
            "{topic}"
        );
    }
}

#[test]
fn templates_with_bad_functions_or_nested_device_configuration_are_refused() {
    let empty = BTreeMap::new();
    let cases = [
        r#"{"Resources": {"t": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "Missing"}}}}}"#,
        r#"{"Resources": {"t": {"Type": "AWS::S3::Bucket"}}}"#,
        r#"{"DeviceConfiguration": {"nested": {"a": "b"}}}"#,
        r#"{"DeviceConfiguration": {"x": {"Fn::Select": [5, ["a"]]}}}"#,
        r#"{"DeviceConfiguration": {"x": {"Fn::Sub": "${Nope}"}}}"#,
        r#"{"DeviceConfiguration": {"x": {"Fn::Join": [","]}}}"#,
    ];
    for text in cases {
        let template = ProvisioningTemplate::from_json(text).expect("parses");
        assert!(template.evaluate(&empty, &empty).is_err(), "{text}");
    }
    assert!(ProvisioningTemplate::from_json("[]").is_err());
}

#[test]
fn fn_sub_accepts_its_own_variables() {
    let template = ProvisioningTemplate::from_json(
        r#"{"DeviceConfiguration": {"x": {"Fn::Sub": ["${A}-${B}", {"B": "two"}]}}}"#,
    )
    .expect("parses");
    let evaluated = template
        .evaluate(
            &BTreeMap::new(),
            &BTreeMap::from([("A".to_owned(), "one".to_owned())]),
        )
        .expect("evaluates");
    assert_eq!(evaluated.device_configuration["x"], "one-two");
}
