//! Parsing a step's parameters, with errors that name the parameter.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::NodeError;

/// The code of every parameter error.
const INVALID_PARAMS: &str = "invalid_params";

/// The parameters' JSON text as a value; empty text means no parameters.
pub(crate) fn parse_raw(text: &str) -> Result<Value, NodeError> {
    if text.trim().is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    serde_json::from_str(text).map_err(|err| {
        NodeError::fatal(format!(
            "node parameters are not valid JSON ({err}); this is a host bug, please report it"
        ))
        .with_code(INVALID_PARAMS)
    })
}

/// The parameters as `P`, or an error naming the parameter that is wrong and
/// how to fix it.
pub(crate) fn deserialize<P: DeserializeOwned>(raw: &Value) -> Result<P, NodeError> {
    serde_path_to_error::deserialize(raw).map_err(|err| {
        let path = err.path().to_string();
        error_message(&path, &err.into_inner().to_string())
    })
}

/// Builds the `invalid_params` error for a serde failure at `path` (`.` for
/// the top level).
fn error_message(path: &str, detail: &str) -> NodeError {
    let place = if path == "." {
        "node parameters".to_owned()
    } else {
        format!("parameter `{path}`")
    };
    let fix = fix_for(path, detail);
    NodeError::fatal(format!("{place}: {detail}; {fix}")).with_code(INVALID_PARAMS)
}

/// What to do about a serde error, in words.
fn fix_for(path: &str, detail: &str) -> String {
    let child = |name: &str| {
        if path == "." {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    if let Some(name) = quoted_after(detail, "missing field `") {
        return format!("set `{}` in the node's parameters", child(name));
    }
    if let Some(name) = quoted_after(detail, "unknown field `") {
        // The path of an unknown field already ends with its name.
        let field = if path == "." { name } else { path };
        return format!("remove `{field}` or correct its spelling");
    }
    if detail.starts_with("unknown variant") {
        return format!("use one of the listed values for `{path}`");
    }
    if detail.starts_with("invalid type") || detail.starts_with("invalid value") {
        return format!("give `{path}` a value of the expected type");
    }
    format!("correct `{path}` to match the node's parameter schema")
}

/// The text between `prefix` and the next backtick in `detail`.
fn quoted_after<'a>(detail: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = &detail[detail.find(prefix)? + prefix.len()..];
    rest.find('`').map(|end| &rest[..end])
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Params {
        url: String,
        #[serde(default)]
        response: Response,
        #[serde(default)]
        timeout_ms: u64,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Response {
        #[serde(default)]
        format: Format,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Format {
        #[default]
        Auto,
        Json,
    }

    fn error(value: &serde_json::Value) -> NodeError {
        deserialize::<Params>(value).unwrap_err()
    }

    #[test]
    fn missing_field_names_the_field_to_set() {
        let err = error(&json!({}));
        assert_eq!(
            err.message,
            "node parameters: missing field `url`; set `url` in the node's parameters"
        );
        assert_eq!(err.code.as_deref(), Some("invalid_params"));
        assert!(!err.retryable);
    }

    #[test]
    fn unknown_field_names_its_path_and_the_expected_names() {
        let err = error(&json!({"url": "x", "response": {"fromat": "json"}}));
        assert_eq!(
            err.message,
            "parameter `response.fromat`: unknown field `fromat`, expected `format`; \
             remove `response.fromat` or correct its spelling"
        );
    }

    #[test]
    fn unknown_variant_lists_the_allowed_values() {
        let err = error(&json!({"url": "x", "response": {"format": "xml"}}));
        assert_eq!(
            err.message,
            "parameter `response.format`: unknown variant `xml`, expected `auto` or `json`; \
             use one of the listed values for `response.format`"
        );
    }

    #[test]
    fn wrong_type_names_the_parameter() {
        let err = error(&json!({"url": "x", "timeoutMs": "soon"}));
        assert_eq!(
            err.message,
            "parameter `timeoutMs`: invalid type: string \"soon\", expected u64; \
             give `timeoutMs` a value of the expected type"
        );
    }

    #[test]
    fn empty_parameter_text_is_an_empty_object() {
        assert_eq!(parse_raw(" ").unwrap(), json!({}));
        assert_eq!(
            parse_raw("{bad").unwrap_err().code.as_deref(),
            Some("invalid_params")
        );
    }
}
