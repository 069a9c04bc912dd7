//! The `auth` credential slot: bearer token, basic auth or a custom header.

use base64::Engine as _;
use serde_json::{Map, Value};

use n8n_work_sdk::NodeError;
use n8n_work_sdk::http::Request;

/// The name of the node's credential slot.
pub(crate) const SLOT: &str = "auth";

/// The credential types the slot accepts.
pub(crate) const TYPES: [&str; 3] = ["http-bearer", "http-basic", "http-header"];

/// How a request authenticates.
pub(crate) enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer { token: String },
    /// `Authorization: Basic …`.
    Basic { user: String, password: String },
    /// A header of the credential's choosing, such as `X-Api-Key`.
    Header { name: String, value: String },
}

impl Auth {
    /// Reads a credential: its `type`, or else the fields it has.
    pub(crate) fn from_credential(credential: &Map<String, Value>) -> Result<Self, NodeError> {
        let field = |name: &str| {
            credential
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let kind = match credential.get("type").and_then(Value::as_str) {
            Some(kind) => kind.to_owned(),
            None if credential.contains_key("token") => "http-bearer".to_owned(),
            None if credential.contains_key("name") && credential.contains_key("value") => {
                "http-header".to_owned()
            }
            None if credential.contains_key("password") => "http-basic".to_owned(),
            None => {
                return Err(invalid(
                    "has none of `token` (http-bearer), `user` and `password` (http-basic) or \
                     `name` and `value` (http-header)",
                ));
            }
        };
        match kind.as_str() {
            "http-bearer" => Ok(Auth::Bearer {
                token: field("token").ok_or_else(|| invalid("(http-bearer) needs a `token`"))?,
            }),
            "http-basic" => Ok(Auth::Basic {
                user: field("user")
                    .or_else(|| field("username"))
                    .ok_or_else(|| invalid("(http-basic) needs a `user`"))?,
                password: field("password").unwrap_or_default(),
            }),
            "http-header" => Ok(Auth::Header {
                name: field("name").ok_or_else(|| invalid("(http-header) needs a `name`"))?,
                value: field("value").ok_or_else(|| invalid("(http-header) needs a `value`"))?,
            }),
            other => Err(invalid(&format!(
                "has type `{other}`; this slot accepts {}",
                TYPES.join(", ")
            ))),
        }
    }

    /// `request` authenticated this way.
    pub(crate) fn apply(&self, request: Request) -> Request {
        match self {
            Auth::Bearer { token } => request.bearer(token),
            Auth::Basic { user, password } => request.basic(user, password),
            Auth::Header { name, value } => request.secret_header(name, value),
        }
    }

    /// The values that must never appear in a message.
    pub(crate) fn secrets(&self) -> Vec<String> {
        match self {
            Auth::Bearer { token } => vec![token.clone()],
            Auth::Basic { user, password } => vec![
                password.clone(),
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")),
            ],
            Auth::Header { value, .. } => vec![value.clone()],
        }
    }
}

fn invalid(problem: &str) -> NodeError {
    NodeError::fatal(format!(
        "credential `{SLOT}` {problem}; fix the credential granted to this node"
    ))
    .with_code("invalid_credential")
}

/// `text` with every secret of at least 4 characters replaced.
pub(crate) fn redact(text: &str, secrets: &[String]) -> String {
    let mut text = text.to_owned();
    for secret in secrets.iter().filter(|secret| secret.len() >= 4) {
        text = text.replace(secret, "<redacted>");
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn auth(value: &Value) -> Result<Auth, NodeError> {
        Auth::from_credential(value.as_object().unwrap())
    }

    #[test]
    fn type_is_inferred_from_fields() {
        assert!(matches!(
            auth(&json!({"token": "t"})),
            Ok(Auth::Bearer { .. })
        ));
        assert!(matches!(
            auth(&json!({"user": "u", "password": "p"})),
            Ok(Auth::Basic { .. })
        ));
        assert!(matches!(
            auth(&json!({"name": "X-Api-Key", "value": "v"})),
            Ok(Auth::Header { .. })
        ));
    }

    #[test]
    fn explicit_type_wins_and_missing_fields_are_named_without_values() {
        let err = auth(&json!({"type": "http-header", "name": "X-Key", "token": "s3cret"}))
            .err()
            .unwrap();
        assert_eq!(
            err.message,
            "credential `auth` (http-header) needs a `value`; fix the credential granted to this node"
        );
        assert!(!err.message.contains("s3cret"));
        let err = auth(&json!({"type": "oauth2"})).err().unwrap();
        assert!(err.message.contains("http-bearer, http-basic, http-header"));
    }

    #[test]
    fn redact_hides_secrets() {
        let secrets = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            redact("token=abcd1234 ok", &secrets(&["abcd1234"])),
            "token=<redacted> ok"
        );
        assert_eq!(redact("a b", &secrets(&["a"])), "a b");
        let basic = auth(&json!({"user": "ann", "password": "p@ss"})).unwrap();
        assert_eq!(
            redact("Basic YW5uOnBAc3M= p@ss", &basic.secrets()),
            "Basic <redacted> <redacted>"
        );
    }
}
