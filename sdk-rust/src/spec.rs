//! What a node is: its spec.

use serde_json::Value;

use crate::bindings::n8n_work::node::types as wit;
use crate::outcome::MAIN_PORT;

/// A credential the node can use, under the name it passes to
/// [`crate::Context::credential`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialSlot {
    /// The slot's name, such as `auth`.
    pub name: String,
    /// Credential types accepted here, such as `http-bearer`.
    pub types: Vec<String>,
    /// Whether the node cannot run without it.
    pub required: bool,
    /// What the credential is used for, shown to whoever grants it.
    pub description: String,
}

impl CredentialSlot {
    /// An optional slot `name` that accepts `types`.
    pub fn new(name: impl Into<String>, types: &[&str]) -> Self {
        CredentialSlot {
            name: name.into(),
            types: types.iter().map(|&ty| ty.to_owned()).collect(),
            required: false,
            description: String::new(),
        }
    }

    /// This slot, marked as required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// This slot with a description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }
}

/// An origin the node needs to reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressNeed {
    /// A grant pattern (`https://slack.com`, `https://*.example.com:8443`),
    /// or `param:<name>` when the origin comes from a URL in that parameter.
    pub origin: String,
    /// Why, shown to whoever grants it.
    pub reason: String,
}

/// An output port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputPort {
    /// The name items are emitted under ([`crate::Outcome::port`]).
    pub name: String,
    /// The name shown in the editor.
    pub display_name: String,
}

/// What a node is: shown in the editor and the marketplace, and checked when
/// a workflow is validated. Built with chained calls:
///
/// ```
/// use n8n_work_sdk::Spec;
///
/// let spec = Spec::new("if-even", "If Even")
///     .version("1.2.0")
///     .description("Routes even numbers to `true`.")
///     .output("true", "True")
///     .output("false", "False");
/// assert_eq!(spec.outputs.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// Short, lowercase, unique within its publisher (`http`, `slack`).
    pub name: String,
    /// Semantic version of the node; `0.1.0` unless set.
    pub version: String,
    /// The name shown in the editor.
    pub display_name: String,
    /// What the node does.
    pub description: String,
    /// An icon as a data URL or a short symbol name.
    pub icon: Option<String>,
    /// A JSON Schema (draft 2020-12) for the parameters; generated from
    /// [`crate::Node::Params`] when `None`.
    pub params_schema: Option<Value>,
    /// The credentials the node can use.
    pub credentials: Vec<CredentialSlot>,
    /// The origins the node needs to reach.
    pub egress: Vec<EgressNeed>,
    /// The output ports; a single `main` port when none is added.
    pub outputs: Vec<OutputPort>,
}

impl Spec {
    /// A spec for node `name`, shown as `display_name`.
    pub fn new(name: impl Into<String>, display_name: impl Into<String>) -> Self {
        Spec {
            name: name.into(),
            version: "0.1.0".to_owned(),
            display_name: display_name.into(),
            description: String::new(),
            icon: None,
            params_schema: None,
            credentials: Vec::new(),
            egress: Vec::new(),
            outputs: Vec::new(),
        }
    }

    /// This spec with version `version` (often `env!("CARGO_PKG_VERSION")`).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// This spec with a description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// This spec with an icon (a data URL or a short symbol name).
    pub fn icon(mut self, icon: impl Into<String>) -> Self {
        self.icon = Some(icon.into());
        self
    }

    /// This spec with an explicit parameter schema instead of the generated
    /// one.
    pub fn params_schema(mut self, schema: Value) -> Self {
        self.params_schema = Some(schema);
        self
    }

    /// This spec with one more credential slot.
    pub fn credential(mut self, slot: CredentialSlot) -> Self {
        self.credentials.push(slot);
        self
    }

    /// This spec with one more origin the node needs to reach.
    pub fn egress(mut self, origin: impl Into<String>, reason: impl Into<String>) -> Self {
        self.egress.push(EgressNeed {
            origin: origin.into(),
            reason: reason.into(),
        });
        self
    }

    /// This spec with one more output port.
    pub fn output(mut self, name: impl Into<String>, display_name: impl Into<String>) -> Self {
        self.outputs.push(OutputPort {
            name: name.into(),
            display_name: display_name.into(),
        });
        self
    }

    /// This spec with its parameter schema generated from `P` unless one was
    /// set.
    pub(crate) fn with_schema_of<P: schemars::JsonSchema>(mut self) -> Self {
        if self.params_schema.is_none() {
            self.params_schema = Some(schemars::schema_for!(P).to_value());
        }
        self
    }
}

impl From<Spec> for wit::NodeSpec {
    fn from(spec: Spec) -> Self {
        let outputs = if spec.outputs.is_empty() {
            vec![wit::OutputPort {
                name: MAIN_PORT.to_owned(),
                display_name: "Main".to_owned(),
            }]
        } else {
            spec.outputs
                .into_iter()
                .map(|port| wit::OutputPort {
                    name: port.name,
                    display_name: port.display_name,
                })
                .collect()
        };
        wit::NodeSpec {
            name: spec.name,
            version: spec.version,
            display_name: spec.display_name,
            description: spec.description,
            icon: spec.icon,
            params_schema: spec
                .params_schema
                .unwrap_or_else(|| Value::Object(serde_json::Map::new()))
                .to_string(),
            credentials: spec
                .credentials
                .into_iter()
                .map(|slot| wit::CredentialSlot {
                    name: slot.name,
                    types: slot.types,
                    required: slot.required,
                    description: slot.description,
                })
                .collect(),
            egress: spec
                .egress
                .into_iter()
                .map(|need| wit::EgressNeed {
                    origin: need.origin,
                    reason: need.reason,
                })
                .collect(),
            outputs,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    /// Parameters used to check schema generation.
    #[derive(Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Params {
        /// Where to send it.
        url: String,
    }

    #[test]
    fn spec_without_outputs_has_a_single_main_port() {
        let wit: wit::NodeSpec = Spec::new("x", "X").into();
        assert_eq!(wit.outputs.len(), 1);
        assert_eq!(wit.outputs[0].name, "main");
        assert_eq!(wit.version, "0.1.0");
        assert_eq!(wit.params_schema, "{}");
    }

    #[test]
    fn spec_converts_every_field() {
        let spec = Spec::new("slack", "Slack")
            .version("1.0.0")
            .description("Posts messages.")
            .icon("slack")
            .credential(
                CredentialSlot::new("slack", &["slack-bot-token", "slack-webhook"])
                    .required()
                    .description("Bot token or webhook"),
            )
            .egress("https://slack.com", "Slack Web API")
            .output("true", "True");
        let wit: wit::NodeSpec = spec.into();
        assert_eq!(wit.icon.as_deref(), Some("slack"));
        assert_eq!(
            wit.credentials[0].types,
            ["slack-bot-token", "slack-webhook"]
        );
        assert!(wit.credentials[0].required);
        assert_eq!(wit.egress[0].origin, "https://slack.com");
        assert_eq!(wit.outputs[0].display_name, "True");
    }

    #[test]
    fn schema_is_generated_from_params_unless_set() {
        let generated = Spec::new("x", "X").with_schema_of::<Params>();
        let schema = generated.params_schema.unwrap();
        assert_eq!(schema["properties"]["url"]["type"], "string");
        assert_eq!(schema["required"], json!(["url"]));
        assert!(schema["$schema"].as_str().unwrap().contains("2020-12"));

        let explicit = Spec::new("x", "X")
            .params_schema(json!({"type": "object"}))
            .with_schema_of::<Params>();
        assert_eq!(explicit.params_schema, Some(json!({"type": "object"})));
    }
}
