//! The workflow format as users write it, in YAML or JSON.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::source::{DocumentLimit, Location, Path, PathSegment, SourceMap, read_json, read_yaml};

/// A workflow: nodes, the connections between their ports, and settings.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "n8n-work workflow")]
pub struct Workflow {
    /// Name shown to people.
    pub name: String,
    /// What the workflow does.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Free-form labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The nodes, each with a unique `id`.
    pub nodes: Vec<Node>,
    /// Edges from a node's output port to another node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<Connection>,
    /// Run-wide settings.
    #[serde(default)]
    pub settings: Settings,
    #[serde(skip)]
    #[schemars(skip)]
    source: SourceMap,
}

/// One step of a workflow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Node {
    /// Unique within the workflow; connections and expressions (`$("id")`) use it.
    pub id: String,
    /// A control node (`if`, `set`, `webhook`, ...), a built-in component
    /// (`builtin:http`) or a plugin (`acme/crm@1.2.0`).
    #[serde(rename = "type")]
    pub node_type: NodeType,
    /// Parameters; strings may hold `{{ expression }}` parts.
    #[serde(default = "empty_object", skip_serializing_if = "is_empty_object")]
    pub params: serde_json::Value,
    /// Credential slot name → the name of a stored credential.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub credentials: BTreeMap<String, String>,
    /// Origins the node may reach (`https://api.slack.com`, `https://*.example.com:8443`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<String>,
    /// How failed attempts are retried; absent means one attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// Wall-clock limit of one attempt, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// What a failure after the last attempt does.
    #[serde(default, skip_serializing_if = "OnError::is_stop")]
    pub on_error: OnError,
    /// Where the node sits on the canvas; `n8n-v1` order follows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// The id of the node that undoes this one's effect when the run fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensate: Option<String>,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

fn is_empty_object(value: &serde_json::Value) -> bool {
    value.as_object().is_some_and(|m| m.is_empty())
}

/// What a node is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum NodeType {
    /// A node the engine runs natively.
    Control(ControlKind),
    /// A component built into the binary: `builtin:NAME`.
    Builtin(String),
    /// An installed plugin: `NAMESPACE/NAME@VERSION`.
    Plugin {
        /// Publisher namespace.
        namespace: String,
        /// Component name.
        name: String,
        /// Version, as installed.
        version: String,
    },
}

/// The nodes the engine runs itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ControlKind {
    /// Route items to `true` or `false`.
    If,
    /// Set fields on items.
    Set,
    /// Route items by rules.
    Switch,
    /// Join branches.
    Merge,
    /// Pause the run.
    Wait,
    /// Answer the webhook that started the run.
    Respond,
    /// Pass items through.
    Noop,
    /// Keep the items that match.
    Filter,
    /// Iterate over items or batches.
    Loop,
    /// Run another workflow.
    ExecuteWorkflow,
    /// Fail the run.
    StopAndError,
    /// Trigger: an HTTP request.
    Webhook,
    /// Trigger: a schedule.
    Schedule,
    /// Trigger: started by hand or by `n8n-work run`.
    Manual,
    /// One item per element of a list field.
    SplitOut,
    /// Many items' fields gathered into one item.
    Aggregate,
    /// Items in order of fields.
    Sort,
    /// The first (or last) items only.
    Limit,
    /// Items whose fields were not seen before.
    RemoveDuplicates,
}

impl ControlKind {
    /// Every control node, by name.
    pub const ALL: [(&'static str, ControlKind); 19] = [
        ("if", ControlKind::If),
        ("set", ControlKind::Set),
        ("switch", ControlKind::Switch),
        ("merge", ControlKind::Merge),
        ("wait", ControlKind::Wait),
        ("respond", ControlKind::Respond),
        ("noop", ControlKind::Noop),
        ("filter", ControlKind::Filter),
        ("loop", ControlKind::Loop),
        ("execute-workflow", ControlKind::ExecuteWorkflow),
        ("stop-and-error", ControlKind::StopAndError),
        ("webhook", ControlKind::Webhook),
        ("schedule", ControlKind::Schedule),
        ("manual", ControlKind::Manual),
        ("split-out", ControlKind::SplitOut),
        ("aggregate", ControlKind::Aggregate),
        ("sort", ControlKind::Sort),
        ("limit", ControlKind::Limit),
        ("remove-duplicates", ControlKind::RemoveDuplicates),
    ];

    /// Its name in a workflow's `type`.
    pub fn name(self) -> &'static str {
        ControlKind::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .unwrap_or("noop")
    }

    /// Whether it starts runs.
    pub fn is_trigger(self) -> bool {
        matches!(
            self,
            ControlKind::Webhook | ControlKind::Schedule | ControlKind::Manual
        )
    }
}

impl NodeType {
    /// Whether this node starts runs.
    pub fn is_trigger(&self) -> bool {
        matches!(self, NodeType::Control(kind) if kind.is_trigger())
    }

    /// The control kind, for a control node.
    pub fn control(&self) -> Option<ControlKind> {
        match self {
            NodeType::Control(kind) => Some(*kind),
            _ => None,
        }
    }
}

fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Why a `type` could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown node type `{0}`; use a control node ({controls}), `builtin:NAME` or `NAMESPACE/NAME@VERSION`",
    controls = ControlKind::ALL.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
)]
pub struct NodeTypeError(String);

impl FromStr for NodeType {
    type Err = NodeTypeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some((_, kind)) = ControlKind::ALL.iter().find(|(n, _)| *n == text) {
            return Ok(NodeType::Control(*kind));
        }
        if let Some(name) = text.strip_prefix("builtin:")
            && is_name(name)
        {
            return Ok(NodeType::Builtin(name.to_owned()));
        }
        if let Some((namespace, rest)) = text.split_once('/')
            && let Some((name, version)) = rest.split_once('@')
            && is_name(namespace)
            && is_name(name)
            && !version.is_empty()
            && version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-+".contains(c))
        {
            return Ok(NodeType::Plugin {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                version: version.to_owned(),
            });
        }
        Err(NodeTypeError(text.to_owned()))
    }
}

impl TryFrom<String> for NodeType {
    type Error = NodeTypeError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<NodeType> for String {
    fn from(node_type: NodeType) -> Self {
        node_type.to_string()
    }
}

impl fmt::Display for NodeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeType::Control(kind) => f.write_str(kind.name()),
            NodeType::Builtin(name) => write!(f, "builtin:{name}"),
            NodeType::Plugin {
                namespace,
                name,
                version,
            } => write!(f, "{namespace}/{name}@{version}"),
        }
    }
}

impl JsonSchema for NodeType {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "NodeType".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let controls: Vec<&str> = ControlKind::ALL.iter().map(|(n, _)| *n).collect();
        schemars::json_schema!({
            "description": "A control node, `builtin:NAME`, or `NAMESPACE/NAME@VERSION`.",
            "anyOf": [
                { "type": "string", "enum": controls },
                { "type": "string", "pattern": "^builtin:[a-z0-9_-]+$" },
                { "type": "string", "pattern": "^[a-z0-9_-]+/[a-z0-9_-]+@[A-Za-z0-9.+-]+$" }
            ]
        })
    }
}

/// Retries of a failed attempt: exponential backoff from `initialMs`,
/// doubling up to `maxMs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// Delays between attempts.
    #[serde(default)]
    pub backoff: Backoff,
    /// Whether delays are randomised (full jitter) so retries do not align.
    #[serde(default = "yes")]
    pub jitter: bool,
}

fn yes() -> bool {
    true
}

/// Delay bounds for retries, in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Backoff {
    /// Delay before the second attempt.
    #[serde(default = "Backoff::default_initial_ms")]
    pub initial_ms: u64,
    /// Largest delay.
    #[serde(default = "Backoff::default_max_ms")]
    pub max_ms: u64,
}

impl Backoff {
    fn default_initial_ms() -> u64 {
        1_000
    }
    fn default_max_ms() -> u64 {
        60_000
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial_ms: Backoff::default_initial_ms(),
            max_ms: Backoff::default_max_ms(),
        }
    }
}

impl OnError {
    fn is_stop(&self) -> bool {
        *self == OnError::Stop
    }
}

/// What a node's final failure does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OnError {
    /// Fail the run.
    #[default]
    Stop,
    /// Pass the input items on as if the node had succeeded.
    Continue,
    /// Send the error as an item on the node's `error` port.
    ErrorOutput,
}

/// A canvas position, written `[x, y]` as n8n writes it; `{x, y}` is read too.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Position {
    /// Horizontal.
    pub x: f64,
    /// Vertical.
    pub y: f64,
}

impl Serialize for Position {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        [self.x, self.y].serialize(s)
    }
}

impl<'de> Deserialize<'de> for Position {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Named {
            x: f64,
            y: f64,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Pair([f64; 2]),
            Named(Named),
        }
        Raw::deserialize(d)
            .map(|raw| match raw {
                Raw::Pair([x, y]) | Raw::Named(Named { x, y }) => Position { x, y },
            })
            .map_err(|_| serde::de::Error::custom("a position is `[x, y]` (two numbers)"))
    }
}

impl JsonSchema for Position {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Position".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A canvas position: `[x, y]` (`{x, y}` is read too).",
            "anyOf": [
                {
                    "type": "array",
                    "items": { "type": "number" },
                    "minItems": 2,
                    "maxItems": 2
                },
                {
                    "type": "object",
                    "properties": { "x": { "type": "number" }, "y": { "type": "number" } },
                    "required": ["x", "y"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// An edge: items on `from`'s output `port` go to `to`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Connection {
    /// The id of the node that emits.
    pub from: String,
    /// Its output port (`main` when absent; `true`/`false` for `if`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PortName>,
    /// The id of the node that receives.
    pub to: String,
    /// The receiving input, for nodes with several (`merge`: `0`, `1`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
}

impl Connection {
    /// The output port, `main` when not written.
    pub fn port(&self) -> &str {
        self.port.as_ref().map_or(MAIN_PORT, |p| p.0.as_str())
    }
}

/// The default port name.
pub const MAIN_PORT: &str = "main";

/// A port name. YAML reads `port: true` as a boolean, so booleans are taken
/// as the names `true` and `false`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PortName(pub String);

impl<'de> Deserialize<'de> for PortName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Flag(bool),
        }
        Raw::deserialize(d)
            .map(|raw| match raw {
                Raw::Text(text) => PortName(text),
                Raw::Flag(flag) => PortName(flag.to_string()),
            })
            .map_err(|_| serde::de::Error::custom("a port is a name such as `main` or `true`"))
    }
}

impl JsonSchema for PortName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PortName".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "An output port name; YAML booleans stand for `true` and `false`.",
            "type": ["string", "boolean"]
        })
    }
}

/// Run-wide settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    /// Wall-clock limit of a whole run, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_timeout_ms: Option<u64>,
    /// The workflow started with a failed run's context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_workflow: Option<String>,
    /// How long finished runs are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// How ready branches are scheduled.
    #[serde(default)]
    pub execution_order: ExecutionOrder,
}

/// Limits on kept runs; a run is pruned when either is passed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Retention {
    /// Age in days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_days: Option<u32>,
    /// Number of runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_count: Option<u64>,
}

/// How ready branches are scheduled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ExecutionOrder {
    /// Ready branches run concurrently.
    #[default]
    #[serde(rename = "parallel")]
    Parallel,
    /// One branch at a time, by canvas position, as n8n 1.x runs it.
    #[serde(rename = "n8n-v1")]
    N8nV1,
}

/// Why workflow text could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// Where in the document (`nodes[2].params`), when known.
    pub path: Option<String>,
    /// Where in the text, when known.
    pub location: Option<Location>,
    /// What is wrong.
    pub message: String,
    /// The size limit the document went past, when that is what is wrong
    /// (the API answers these with 422 `document_too_large`).
    pub limit: Option<DocumentLimit>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.path, &self.location) {
            (Some(path), Some(at)) => write!(f, "{path} ({at}): {}", self.message),
            (Some(path), None) => write!(f, "{path}: {}", self.message),
            (None, Some(at)) => write!(f, "{at}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

impl Workflow {
    /// Reads a workflow from YAML.
    pub fn from_yaml(text: &str) -> Result<Workflow, ParseError> {
        let (value, map) = read_yaml(text)?;
        Workflow::from_value_at(value, map)
    }

    /// Reads a workflow from JSON.
    pub fn from_json(text: &str) -> Result<Workflow, ParseError> {
        let (value, map) = read_json(text)?;
        Workflow::from_value_at(value, map)
    }

    /// Reads a workflow from a JSON value; errors carry paths but no lines.
    pub fn from_value(value: serde_json::Value) -> Result<Workflow, ParseError> {
        Workflow::from_value_at(value, SourceMap::default())
    }

    fn from_value_at(value: serde_json::Value, map: SourceMap) -> Result<Workflow, ParseError> {
        match serde_path_to_error::deserialize::<_, Workflow>(value) {
            Ok(mut workflow) => {
                workflow.source = map;
                Ok(workflow)
            }
            Err(e) => {
                let mut path = Path::root();
                for segment in e.path().iter() {
                    match segment {
                        serde_path_to_error::Segment::Seq { index } => path = path.index(*index),
                        serde_path_to_error::Segment::Map { key } => path = path.key(key.clone()),
                        serde_path_to_error::Segment::Enum { .. }
                        | serde_path_to_error::Segment::Unknown => {}
                    }
                }
                let message = e.into_inner().to_string();
                // An unknown key is reported at its mapping; point at the key.
                if let Some(field) = message
                    .strip_prefix("unknown field `")
                    .and_then(|rest| rest.split_once('`'))
                    .map(|(field, _)| field.to_owned())
                    && path.segments().last() != Some(&PathSegment::Key(field.clone()))
                {
                    path = path.key(field);
                }
                let location = map.locate_key(&path);
                Err(ParseError {
                    path: Some(path.to_string()).filter(|_| !path.segments().is_empty()),
                    location,
                    message,
                    limit: None,
                })
            }
        }
    }

    /// Where the value at `path` was written, when the workflow was read from text.
    pub fn locate(&self, path: &Path) -> Option<Location> {
        self.source.locate(path)
    }

    /// Where the key leading to `path` was written, when read from text.
    pub fn locate_key(&self, path: &Path) -> Option<Location> {
        self.source.locate_key(path)
    }

    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

/// The JSON Schema of the workflow format (`schemas/workflow.schema.json`).
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Workflow)).unwrap_or_default()
}
