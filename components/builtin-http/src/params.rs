//! The HTTP Request node's parameters.

use std::borrow::Cow;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use n8n_work_sdk::NodeError;

/// The parameters of one HTTP Request step.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Params {
    /// The HTTP method.
    #[serde(default)]
    pub(crate) method: Method,
    /// The URL to call (`http` or `https`). Its origin must be granted to
    /// the node.
    pub(crate) url: String,
    /// Query parameters appended to the URL. An array value repeats the
    /// name; `null` leaves it out.
    #[serde(default)]
    pub(crate) query: Map<String, Value>,
    /// Request headers. Values are strings, numbers or booleans.
    #[serde(default)]
    pub(crate) headers: Map<String, Value>,
    /// The request body, if any.
    pub(crate) body: Option<Body>,
    /// How the response becomes items.
    #[serde(default)]
    pub(crate) response: ResponseOptions,
    /// Timeout in milliseconds for connecting, for the first byte and between
    /// bytes of the response; 0 leaves only the host's limits.
    #[serde(default = "default_timeout_ms")]
    pub(crate) timeout_ms: u64,
    /// Follow redirects (up to 5). When off, a 3xx response is returned as
    /// it is.
    #[serde(default = "yes")]
    pub(crate) follow_redirects: bool,
    /// Fail when the response body is larger than this many bytes.
    pub(crate) max_response_bytes: Option<u64>,
    /// Polling: emit only the items no earlier run of this node emitted,
    /// told apart by a field. With a `schedule` trigger in front, the node
    /// polls a feed or a list API and each new item goes on once.
    pub(crate) new_items_only: Option<NewItemsOnly>,
}

/// How a polling HTTP node tells new items from ones it emitted before.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewItemsOnly {
    /// The field that identifies an item (`id`, `guid`, `meta.id`).
    pub(crate) key: String,
    /// How many keys to remember (the latest ones), up to 5,000.
    #[serde(default = "default_remember")]
    pub(crate) remember: usize,
}

fn default_remember() -> usize {
    1_000
}

/// The HTTP method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum Method {
    /// `GET`
    #[default]
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
    /// `HEAD`
    Head,
    /// `OPTIONS`
    Options,
}

impl Method {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
        }
    }
}

/// The request body: exactly one of `json`, `jsonText`, `form`, `raw` or
/// `binaryProperty`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["json"]},
    {"required": ["jsonText"]},
    {"required": ["form"]},
    {"required": ["raw"]},
    {"required": ["binaryProperty"]}
]))]
pub(crate) struct Body {
    /// Any JSON value, sent as `application/json`.
    #[serde(default, deserialize_with = "present")]
    pub(crate) json: Option<Value>,
    /// JSON text, parsed and sent as `application/json` (n8n's "Specify
    /// Body: Using JSON"): `{"seq": 1}` sends the object, not the string.
    /// An object or array given here is sent as it is.
    #[serde(default, deserialize_with = "present")]
    pub(crate) json_text: Option<Value>,
    /// Fields sent as `application/x-www-form-urlencoded`.
    pub(crate) form: Option<Map<String, Value>>,
    /// Text sent as it is.
    pub(crate) raw: Option<String>,
    /// The `Content-Type` of a `raw` or `binaryProperty` body (default
    /// `text/plain; charset=utf-8` for `raw`, the binary's own type for
    /// `binaryProperty`).
    pub(crate) content_type: Option<String>,
    /// The name of an input item's binary to send, such as `data`.
    pub(crate) binary_property: Option<String>,
}

/// What the request body is, once checked.
pub(crate) enum BodyKind<'a> {
    Json(Cow<'a, Value>),
    Form(&'a Map<String, Value>),
    Raw(&'a str),
    Binary(&'a str),
}

impl Body {
    /// The one kind of body given, or an error naming the fix.
    pub(crate) fn kind(&self) -> Result<BodyKind<'_>, NodeError> {
        let mut given = Vec::new();
        let mut kind = None;
        if let Some(json) = &self.json {
            given.push("json");
            kind = Some(BodyKind::Json(Cow::Borrowed(json)));
        }
        if let Some(text) = &self.json_text {
            given.push("jsonText");
            kind = Some(BodyKind::Json(parse_json_text(text)?));
        }
        if let Some(form) = &self.form {
            given.push("form");
            kind = Some(BodyKind::Form(form));
        }
        if let Some(raw) = &self.raw {
            given.push("raw");
            kind = Some(BodyKind::Raw(raw));
        }
        if let Some(name) = &self.binary_property {
            given.push("binaryProperty");
            kind = Some(BodyKind::Binary(name));
        }
        match (given.len(), kind) {
            (1, Some(kind)) => {
                if self.content_type.is_some()
                    && matches!(kind, BodyKind::Json(_) | BodyKind::Form(_))
                {
                    return Err(invalid(
                        "parameter `body.contentType` applies only to `raw` and `binaryProperty` \
                         bodies; set `Content-Type` in `headers` instead",
                    ));
                }
                Ok(kind)
            }
            (0, _) => Err(invalid(
                "parameter `body` is empty; give one of `json`, `jsonText`, `form`, `raw` \
                 or `binaryProperty`, or leave `body` out",
            )),
            _ => Err(invalid(&format!(
                "parameter `body` has {}; give exactly one of `json`, `jsonText`, `form`, \
                 `raw` or `binaryProperty`",
                given
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ))),
        }
    }
}

/// How the response becomes items.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ResponseOptions {
    /// How to read the body; `auto` goes by its `Content-Type`.
    #[serde(default)]
    pub(crate) format: Format,
    /// A top-level JSON array becomes one item per element (elements that
    /// are not objects become `{"value": …}`).
    #[serde(default = "yes")]
    pub(crate) split: bool,
    /// Each item is `{statusCode, headers, body}` instead of the body alone.
    #[serde(default)]
    pub(crate) full_response: bool,
    /// A status outside 2xx becomes an item `{statusCode, headers, body}`
    /// instead of an error.
    #[serde(default)]
    pub(crate) never_error: bool,
}

impl Default for ResponseOptions {
    fn default() -> Self {
        ResponseOptions {
            format: Format::Auto,
            split: true,
            full_response: false,
            never_error: false,
        }
    }
}

/// How to read the response body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Format {
    /// By `Content-Type`: JSON, text, or else binary.
    #[default]
    Auto,
    /// Parse as JSON.
    Json,
    /// Keep as text, in `data`.
    Text,
    /// Store as binary `data`.
    Binary,
}

fn default_timeout_ms() -> u64 {
    30_000
}

fn yes() -> bool {
    true
}

/// `Some` even for `null`, so that `{"json": null}` sends `null`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// The value `body.jsonText` sends: text is parsed as JSON, as n8n does
/// with a `jsonBody` string; any other value is sent as it is.
fn parse_json_text(value: &Value) -> Result<Cow<'_, Value>, NodeError> {
    let Value::String(text) = value else {
        return Ok(Cow::Borrowed(value));
    };
    serde_json::from_str(text).map(Cow::Owned).map_err(|err| {
        let shown: String = text.chars().take(80).collect();
        let more = if shown.len() < text.len() { "…" } else { "" };
        invalid(&format!(
            "parameter `body.jsonText`: JSON parameter needs to be valid JSON ({err} in \
             `{shown}{more}`); write JSON text such as `{{\"seq\": 1}}`, or build the value \
             with an expression such as `{{{{ JSON.stringify({{ seq: $json.seq }}) }}}}`"
        ))
    })
}

pub(crate) fn invalid(message: &str) -> NodeError {
    NodeError::fatal(message).with_code("invalid_params")
}

/// The text values of query parameter `name`: arrays repeat it, `null`
/// leaves it out.
pub(crate) fn query_values(name: &str, value: &Value) -> Result<Vec<String>, NodeError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(values) => values
            .iter()
            .filter(|value| !value.is_null())
            .map(|value| scalar_text(value).ok_or_else(|| not_scalar("query", name)))
            .collect(),
        value => scalar_text(value)
            .map(|text| vec![text])
            .ok_or_else(|| not_scalar("query", name)),
    }
}

/// The text of header `name`.
pub(crate) fn header_value(name: &str, value: &Value) -> Result<String, NodeError> {
    scalar_text(value).ok_or_else(|| not_scalar("headers", name))
}

/// The text of a form field: scalars as text, anything else as JSON.
pub(crate) fn form_value(value: &Value) -> String {
    scalar_text(value).unwrap_or_else(|| value.to_string())
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn not_scalar(parameter: &str, name: &str) -> NodeError {
    invalid(&format!(
        "parameter `{parameter}.{name}` must be a string, number or boolean"
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn params(value: Value) -> Params {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn defaults_apply() {
        let params = params(json!({"url": "https://example.com"}));
        assert_eq!(params.method, Method::Get);
        assert_eq!(params.timeout_ms, 30_000);
        assert!(params.follow_redirects);
        assert!(params.response.split);
        assert_eq!(params.response.format, Format::Auto);
        assert!(params.body.is_none());
    }

    #[test]
    fn body_needs_exactly_one_kind() {
        let both = params(json!({"url": "u", "body": {"json": 1, "raw": "x"}}));
        let err = both.body.unwrap().kind().err().unwrap();
        assert_eq!(
            err.message,
            "parameter `body` has `json` and `raw`; give exactly one of `json`, `jsonText`, \
             `form`, `raw` or `binaryProperty`"
        );
        let null = params(json!({"url": "u", "body": {"json": null}}));
        assert!(matches!(
            null.body.unwrap().kind(),
            Ok(BodyKind::Json(Cow::Borrowed(Value::Null)))
        ));
        let typed = params(json!({"url": "u", "body": {"form": {}, "contentType": "x"}}));
        assert!(typed.body.unwrap().kind().is_err());
    }

    #[test]
    fn json_text_is_parsed_and_other_values_pass_through() {
        let text = params(json!({"url": "u", "body": {"jsonText": "{\"seq\": 1}"}}));
        let body = text.body.unwrap();
        let Ok(BodyKind::Json(value)) = body.kind() else {
            panic!("not a JSON body");
        };
        assert_eq!(*value, json!({"seq": 1}));
        let object = params(json!({"url": "u", "body": {"jsonText": {"seq": 2}}}));
        let body = object.body.unwrap();
        let Ok(BodyKind::Json(value)) = body.kind() else {
            panic!("not a JSON body");
        };
        assert_eq!(*value, json!({"seq": 2}));
    }

    #[test]
    fn json_text_that_is_not_json_names_the_parameter_and_the_fix() {
        let bad = params(json!({"url": "u", "body": {"jsonText": "{seq: 1}"}}));
        let err = bad.body.unwrap().kind().err().unwrap();
        assert_eq!(err.code.as_deref(), Some("invalid_params"));
        assert!(
            err.message.starts_with(
                "parameter `body.jsonText`: JSON parameter needs to be valid JSON (key must be \
                 a string at line 1 column 2 in `{seq: 1}`); write JSON text such as"
            ),
            "{}",
            err.message
        );
    }

    #[test]
    fn unknown_parameters_are_refused() {
        let err =
            serde_json::from_value::<Params>(json!({"url": "u", "metod": "GET"})).unwrap_err();
        assert!(err.to_string().contains("unknown field `metod`"));
    }

    #[test]
    fn query_values_repeat_for_arrays_and_skip_null() {
        assert_eq!(
            query_values("a", &json!([1, "b", null, true])).unwrap(),
            ["1", "b", "true"]
        );
        assert!(query_values("a", &Value::Null).unwrap().is_empty());
        let err = query_values("a", &json!({"x": 1})).unwrap_err();
        assert_eq!(
            err.message,
            "parameter `query.a` must be a string, number or boolean"
        );
    }

    #[test]
    fn schema_lists_the_body_kinds() {
        let schema = schemars::schema_for!(Params).to_value();
        let body = &schema["$defs"]["Body"];
        assert_eq!(body["oneOf"][1]["required"], json!(["jsonText"]));
        assert_eq!(body["oneOf"][4]["required"], json!(["binaryProperty"]));
        assert_eq!(body["additionalProperties"], json!(false));
        assert_eq!(schema["properties"]["timeoutMs"]["default"], json!(30_000));
    }
}
