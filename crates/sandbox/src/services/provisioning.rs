//! The fleet provisioning service: `companion_awsiot::provisioning::ProvisioningService` over
//! MQTT with the sandbox CA as certificate issuer. Issued certificates are recorded in the
//! registry as PENDING_ACTIVATION; RegisterThing creates the thing, activates the certificate
//! and attaches it to the thing.
//!
//! Templates: every `<data dir>/templates/<name>.json` (the template body as AWS stores it),
//! plus the built-in [`DEFAULT_TEMPLATE_NAME`] unless a file of that name replaces it.

use std::path::Path;
use std::sync::Arc;

use companion_awsiot::TemplateName;
use companion_awsiot::provisioning::{
    ProvisioningOutcome, ProvisioningService, ProvisioningTemplate,
};
use tokio::sync::watch;

use super::{ServiceError, ServiceLink, StartError, now, stopped};
use crate::ca::LocalCa;
use crate::connect::Endpoint;
use crate::db::{CertificateStatus, Registry};

/// Name of the built-in template.
pub const DEFAULT_TEMPLATE_NAME: &str = "companion-default";

/// The built-in template: parameters `SerialNumber` and `Model`; the thing is named
/// `{Model}-{SerialNumber}` with attributes `model` and `serialNumber`; the certificate
/// becomes ACTIVE.
pub const DEFAULT_TEMPLATE: &str = r#"{
  "Parameters": {
    "SerialNumber": {"Type": "String"},
    "Model": {"Type": "String"},
    "AWS::IoT::Certificate::Id": {"Type": "String"}
  },
  "Resources": {
    "thing": {
      "Type": "AWS::IoT::Thing",
      "Properties": {
        "ThingName": {"Fn::Join": ["-", [{"Ref": "Model"}, {"Ref": "SerialNumber"}]]},
        "AttributePayload": {"model": {"Ref": "Model"}, "serialNumber": {"Ref": "SerialNumber"}}
      }
    },
    "certificate": {
      "Type": "AWS::IoT::Certificate",
      "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"}
    }
  },
  "DeviceConfiguration": {}
}"#;

/// The request topics (JSON and CBOR).
pub fn request_filters() -> Vec<String> {
    vec![
        "$aws/certificates/create/+".to_owned(),
        "$aws/certificates/create-from-csr/+".to_owned(),
        "$aws/provisioning-templates/+/provision/+".to_owned(),
    ]
}

/// Loads the built-in template and every `*.json` in `<data_dir>/templates`.
pub fn load_templates(data_dir: &Path) -> Result<ProvisioningService, ServiceError> {
    let mut service = ProvisioningService::new();
    add_template(&mut service, DEFAULT_TEMPLATE_NAME, DEFAULT_TEMPLATE)?;
    let Ok(entries) = std::fs::read_dir(data_dir.join("templates")) else {
        return Ok(service);
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.extension().is_some_and(|e| e == "json") {
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ServiceError::Refused(format!("cannot read the template {}: {e}", path.display()))
            })?;
            add_template(&mut service, name, &text)?;
        }
    }
    Ok(service)
}

fn add_template(
    service: &mut ProvisioningService,
    name: &str,
    text: &str,
) -> Result<(), ServiceError> {
    let refused = |e: &dyn std::fmt::Display| {
        ServiceError::Refused(format!("the provisioning template {name} is invalid: {e}"))
    };
    let template_name = TemplateName::new(name).map_err(|e| refused(&e))?;
    let template = ProvisioningTemplate::from_json(text).map_err(|e| refused(&e))?;
    service.add_template(template_name, template);
    Ok(())
}

/// The provisioning service, ready to run.
pub(crate) struct ProvisioningDriver {
    link: ServiceLink,
    service: ProvisioningService,
    ca: Arc<LocalCa>,
    registry: Registry,
}

impl ProvisioningDriver {
    /// Loads the templates and connects to `endpoint`.
    pub(crate) async fn start(
        endpoint: &Endpoint,
        data_dir: &Path,
        ca: Arc<LocalCa>,
        registry: Registry,
    ) -> Result<Self, StartError> {
        let service = load_templates(data_dir)?;
        let link = ServiceLink::connect("provisioning", endpoint, request_filters()).await?;
        Ok(Self {
            link,
            service,
            ca,
            registry,
        })
    }

    /// Answers requests until `shutdown` says stop.
    pub(crate) async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        loop {
            let publish = tokio::select! {
                _ = stopped(&mut shutdown) => break,
                publish = self.link.next_publish() => publish,
            };
            if let Some(publish) = publish {
                self.handle(&publish.topic, &publish.payload).await;
                self.link.done(publish);
            }
        }
        self.link.close().await;
    }

    async fn handle(&mut self, topic: &str, payload: &[u8]) {
        let time = now();
        let expired = self.service.expire(time);
        if let Err(error) = self.registry.revoke_pending(&expired).await {
            tracing::error!(%error, "expired provisioning certificates not revoked");
        }
        let mut issuer: &LocalCa = &self.ca;
        let Some(outcome) = self
            .service
            .handle_publish(&mut issuer, topic, payload, time)
        else {
            return;
        };
        if let Err(error) = record(&self.registry, &outcome, time.millis()).await {
            tracing::error!(%error, "provisioning result not recorded in the registry");
        }
        self.link.publish_all(outcome.messages);
    }
}

/// Records an issued certificate (PENDING_ACTIVATION) and carries out a registration.
async fn record(
    registry: &Registry,
    outcome: &ProvisioningOutcome,
    now_ms: u64,
) -> Result<(), crate::db::DbError> {
    if let Some(id) = &outcome.issued_certificate {
        let pem = issued_pem(outcome).unwrap_or_default();
        registry
            .add_certificate(id, &pem, CertificateStatus::PendingActivation, now_ms)
            .await?;
    }
    let Some(registration) = &outcome.registration else {
        return Ok(());
    };
    let Some(thing) = &registration.evaluated.thing_name else {
        return Ok(());
    };
    registry
        .register_thing(
            thing,
            &registration.evaluated.attributes,
            Some(&registration.certificate_id),
            now_ms,
        )
        .await
}

/// The certificate PEM in an accepted create reply (JSON or CBOR).
fn issued_pem(outcome: &ProvisioningOutcome) -> Option<String> {
    use companion_awsiot::Topic;
    use companion_awsiot::provisioning::{CreateCertificateFromCsrResponse, decode};
    let message = outcome.messages.first()?;
    let Ok(Topic::Provisioning(topic)) = Topic::parse(&message.topic) else {
        return None;
    };
    // Both create replies carry `certificatePem`; the CSR reply's type reads either.
    decode::<CreateCertificateFromCsrResponse>(topic.format, &message.payload)
        .ok()
        .map(|r| r.certificate_pem)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn strings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_default_template_names_the_thing_from_model_and_serial_number() {
        let template = ProvisioningTemplate::from_json(DEFAULT_TEMPLATE).expect("valid JSON");
        let parameters = strings(&[("SerialNumber", "0042"), ("Model", "thermo")]);
        let builtins = strings(&[("AWS::IoT::Certificate::Id", "abc")]);
        let evaluated = template
            .evaluate(&parameters, &builtins)
            .expect("evaluates");
        assert_eq!(
            evaluated.thing_name.as_deref(),
            Some("thermo-0042"),
            "thing name"
        );
        assert_eq!(
            evaluated.attributes,
            strings(&[("model", "thermo"), ("serialNumber", "0042")]),
            "attributes"
        );
        assert_eq!(
            evaluated.certificate_status.as_deref(),
            Some("ACTIVE"),
            "activates the certificate"
        );
    }

    #[test]
    fn the_default_template_requires_both_parameters() {
        let template = ProvisioningTemplate::from_json(DEFAULT_TEMPLATE).expect("valid JSON");
        let parameters = strings(&[("SerialNumber", "0042")]);
        let error = template
            .evaluate(&parameters, &BTreeMap::new())
            .expect_err("Model is missing");
        assert!(
            error.0.contains("Model"),
            "the error names the parameter: {error}"
        );
    }

    #[test]
    fn a_broken_template_file_is_reported_with_its_name() {
        let dir = std::env::temp_dir().join(format!("sandbox-templates-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("templates")).expect("dir");
        std::fs::write(dir.join("templates/good.json"), DEFAULT_TEMPLATE).expect("write");
        assert!(load_templates(&dir).is_ok(), "a valid template file loads");
        std::fs::write(dir.join("templates/broken.json"), "{not json").expect("write");
        let error = load_templates(&dir).expect_err("refused");
        assert!(
            error.to_string().contains("broken"),
            "the message names the template: {error}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
