//! Provisioning template evaluation: parameters, intrinsic functions and the resources that
//! matter to a device (thing, certificate, policy) plus DeviceConfiguration (reference §3).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Why a template could not be evaluated for a request (AWS answers these with 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

fn fail<T>(message: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError(message.into()))
}

/// A provisioning template body as AWS stores it: `Parameters`, `Mappings`, `Resources`,
/// `DeviceConfiguration`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvisioningTemplate {
    body: Map<String, Value>,
}

/// What a template says to do for one device, after evaluation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EvaluatedTemplate {
    /// `ThingName` of the `AWS::IoT::Thing` resource.
    pub thing_name: Option<String>,
    /// `AttributePayload` of the thing.
    pub attributes: BTreeMap<String, String>,
    /// `ThingTypeName` of the thing.
    pub thing_type_name: Option<String>,
    /// `ThingGroups` of the thing.
    pub thing_groups: Vec<String>,
    /// `Status` of the `AWS::IoT::Certificate` resource (e.g. `ACTIVE`).
    pub certificate_status: Option<String>,
    /// `PolicyName` of the `AWS::IoT::Policy` resource.
    pub policy_name: Option<String>,
    /// `PolicyDocument` of the policy resource (an inline policy).
    pub policy_document: Option<Value>,
    /// `DeviceConfiguration`, flat.
    pub device_configuration: BTreeMap<String, String>,
}

impl ProvisioningTemplate {
    /// Parses a template body from JSON text.
    pub fn from_json(text: &str) -> Result<Self, TemplateError> {
        match serde_json::from_str(text) {
            Ok(Value::Object(body)) => Ok(Self { body }),
            Ok(_) => fail("a provisioning template must be a JSON object"),
            Err(e) => fail(format!("the provisioning template is not valid JSON: {e}")),
        }
    }

    /// Evaluates the template with the device's `parameters` and the service's built-in
    /// parameters (`AWS::IoT::Certificate::Id` and the certificate subject fields).
    ///
    /// Choice: every declared parameter that is not built in (`AWS::` prefix) and has no
    /// `Default` must be supplied, checked before anything is evaluated.
    pub fn evaluate(
        &self,
        parameters: &BTreeMap<String, String>,
        builtins: &BTreeMap<String, String>,
    ) -> Result<EvaluatedTemplate, TemplateError> {
        let context = Context {
            values: self.parameter_values(parameters, builtins)?,
            mappings: self.section("Mappings"),
        };
        let mut out = EvaluatedTemplate::default();
        for (name, resource) in self.section("Resources") {
            let properties = context.resolve(resource.get("Properties").unwrap_or(&Value::Null))?;
            match resource.get("Type").and_then(Value::as_str) {
                Some("AWS::IoT::Thing") => thing(&mut out, &properties)?,
                Some("AWS::IoT::Certificate") => {
                    out.certificate_status = text_field(&properties, "Status")?;
                }
                Some("AWS::IoT::Policy") => {
                    out.policy_name = text_field(&properties, "PolicyName")?;
                    out.policy_document = properties.get("PolicyDocument").cloned();
                }
                other => return fail(format!("resource {name} has an unsupported Type {other:?}")),
            }
        }
        let configuration = context.resolve(&Value::Object(self.section("DeviceConfiguration")))?;
        out.device_configuration = flat_strings(&configuration, "DeviceConfiguration")?;
        Ok(out)
    }

    fn section(&self, name: &str) -> Map<String, Value> {
        match self.body.get(name) {
            Some(Value::Object(map)) => map.clone(),
            _ => Map::new(),
        }
    }

    fn parameter_values(
        &self,
        given: &BTreeMap<String, String>,
        builtins: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, TemplateError> {
        let mut values = builtins.clone();
        for (name, declaration) in self.section("Parameters") {
            if let Some(value) = given.get(&name).or(builtins.get(&name)) {
                values.insert(name, value.clone());
            } else if let Some(default) = declaration.get("Default") {
                values.insert(name, scalar_text(default).unwrap_or_default());
            } else if !name.starts_with("AWS::") {
                return fail(format!(
                    "parameter {name} is required by the template and was not given"
                ));
            }
        }
        Ok(values)
    }
}

fn thing(out: &mut EvaluatedTemplate, properties: &Value) -> Result<(), TemplateError> {
    out.thing_name = text_field(properties, "ThingName")?;
    out.thing_type_name = text_field(properties, "ThingTypeName")?;
    if let Some(attributes) = properties.get("AttributePayload") {
        out.attributes = flat_strings(attributes, "AttributePayload")?;
    }
    if let Some(groups) = properties.get("ThingGroups") {
        let Some(items) = groups.as_array() else {
            return fail("ThingGroups must be a list");
        };
        out.thing_groups = items.iter().filter_map(scalar_text).collect();
    }
    Ok(())
}

/// A scalar property as text; absent is `None`, a non-scalar is an error.
fn text_field(properties: &Value, key: &str) -> Result<Option<String>, TemplateError> {
    match properties.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => scalar_text(value)
            .map(Some)
            .ok_or_else(|| TemplateError(format!("{key} must be a string"))),
    }
}

/// A flat object of scalars as strings (DeviceConfiguration may not contain nested objects).
fn flat_strings(value: &Value, what: &str) -> Result<BTreeMap<String, String>, TemplateError> {
    let Some(map) = value.as_object() else {
        return fail(format!("{what} must be an object"));
    };
    map.iter()
        .map(|(k, v)| match scalar_text(v) {
            Some(text) => Ok((k.clone(), text)),
            None => fail(format!("{what}.{k} must be a string, number or boolean")),
        })
        .collect()
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parameter values and mappings for resolving intrinsic functions.
struct Context {
    values: BTreeMap<String, String>,
    mappings: Map<String, Value>,
}

impl Context {
    /// Resolves `Ref` and `Fn::*` everywhere inside `value`.
    fn resolve(&self, value: &Value) -> Result<Value, TemplateError> {
        match value {
            Value::Object(map) if map.len() == 1 => {
                let (key, argument) = map
                    .iter()
                    .next()
                    .ok_or_else(|| TemplateError("empty object".into()))?;
                match key.as_str() {
                    "Ref" => self.reference(argument),
                    "Fn::Join" => self.join(argument),
                    "Fn::Select" => self.select(argument),
                    "Fn::Split" => self.split(argument),
                    "Fn::FindInMap" => self.find_in_map(argument),
                    "Fn::Sub" => self.sub(argument),
                    _ => self.resolve_object(map),
                }
            }
            Value::Object(map) => self.resolve_object(map),
            Value::Array(items) => items
                .iter()
                .map(|v| self.resolve(v))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            scalar => Ok(scalar.clone()),
        }
    }

    fn resolve_object(&self, map: &Map<String, Value>) -> Result<Value, TemplateError> {
        map.iter()
            .map(|(k, v)| Ok((k.clone(), self.resolve(v)?)))
            .collect::<Result<_, _>>()
            .map(Value::Object)
    }

    fn text(&self, value: &Value) -> Result<String, TemplateError> {
        let resolved = self.resolve(value)?;
        scalar_text(&resolved)
            .ok_or_else(|| TemplateError(format!("expected a string, found {resolved}")))
    }

    fn arguments<'a>(
        &self,
        argument: &'a Value,
        function: &str,
        count: usize,
    ) -> Result<&'a [Value], TemplateError> {
        match argument.as_array() {
            Some(items) if items.len() == count => Ok(items),
            _ => fail(format!("{function} takes a list of {count} arguments")),
        }
    }

    fn reference(&self, argument: &Value) -> Result<Value, TemplateError> {
        let name = argument
            .as_str()
            .ok_or_else(|| TemplateError("Ref takes a parameter name".into()))?;
        match self.values.get(name) {
            Some(value) => Ok(Value::String(value.clone())),
            None => fail(format!("Ref to unknown parameter {name}")),
        }
    }

    fn join(&self, argument: &Value) -> Result<Value, TemplateError> {
        let [delimiter, list] = self.arguments(argument, "Fn::Join", 2)? else {
            return fail("Fn::Join");
        };
        let delimiter = self.text(delimiter)?;
        let items = self.list(list, "Fn::Join")?;
        let parts = items
            .iter()
            .map(|v| self.text(v))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Value::String(parts.join(&delimiter)))
    }

    fn select(&self, argument: &Value) -> Result<Value, TemplateError> {
        let [index, list] = self.arguments(argument, "Fn::Select", 2)? else {
            return fail("Fn::Select");
        };
        let index: usize = self
            .text(index)?
            .parse()
            .map_err(|_| TemplateError("Fn::Select index must be a number".into()))?;
        let items = self.list(list, "Fn::Select")?;
        items
            .get(index)
            .cloned()
            .ok_or_else(|| TemplateError(format!("Fn::Select index {index} is out of range")))
    }

    fn split(&self, argument: &Value) -> Result<Value, TemplateError> {
        let [delimiter, source] = self.arguments(argument, "Fn::Split", 2)? else {
            return fail("Fn::Split");
        };
        let delimiter = self.text(delimiter)?;
        if delimiter.is_empty() {
            return fail("Fn::Split needs a non-empty delimiter");
        }
        let source = self.text(source)?;
        Ok(Value::Array(
            source
                .split(delimiter.as_str())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        ))
    }

    fn find_in_map(&self, argument: &Value) -> Result<Value, TemplateError> {
        let [map, top, second] = self.arguments(argument, "Fn::FindInMap", 3)? else {
            return fail("Fn::FindInMap");
        };
        let (map, top, second) = (self.text(map)?, self.text(top)?, self.text(second)?);
        self.mappings
            .get(&map)
            .and_then(|m| m.get(&top))
            .and_then(|m| m.get(&second))
            .cloned()
            .ok_or_else(|| {
                TemplateError(format!(
                    "Fn::FindInMap found nothing at {map}/{top}/{second}"
                ))
            })
    }

    /// `Fn::Sub` with `${Name}` placeholders, as a string or `[string, {Name: value}]`.
    fn sub(&self, argument: &Value) -> Result<Value, TemplateError> {
        let (template, extra) = match argument {
            Value::String(s) => (s.clone(), BTreeMap::new()),
            Value::Array(items) if items.len() == 2 => {
                let vars = items[1]
                    .as_object()
                    .ok_or_else(|| TemplateError("Fn::Sub variables must be an object".into()))?;
                let vars = vars
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), self.text(v)?)))
                    .collect::<Result<_, TemplateError>>()?;
                (self.text(&items[0])?, vars)
            }
            _ => return fail("Fn::Sub takes a string or [string, variables]"),
        };
        substitute(&template, |name| {
            extra.get(name).or(self.values.get(name)).cloned()
        })
        .map(Value::String)
    }

    fn list(&self, value: &Value, function: &str) -> Result<Vec<Value>, TemplateError> {
        match self.resolve(value)? {
            Value::Array(items) => Ok(items),
            _ => fail(format!("{function} needs a list")),
        }
    }
}

fn substitute(
    template: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, TemplateError> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| TemplateError("Fn::Sub has an unclosed ${".into()))?;
        let name = &after[..end];
        out.push_str(
            &lookup(name)
                .ok_or_else(|| TemplateError(format!("Fn::Sub refers to unknown {name}")))?,
        );
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
