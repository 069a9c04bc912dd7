//! What a node knows about the step it runs.

use serde_json::{Map, Value};

use crate::{NodeError, host};

/// The step a node runs: its parameters and where it runs.
#[derive(Debug, Clone)]
pub struct Context<P> {
    /// The parameters, deserialized into the node's [`crate::Node::Params`].
    pub params: P,
    /// The parameters as the host sent them (expressions evaluated).
    pub raw_params: Value,
    /// The workflow this step belongs to.
    pub workflow_id: String,
    /// The run this step belongs to.
    pub execution_id: String,
    /// The node's id within the workflow.
    pub node_id: String,
    /// Stable across retries and re-runs of this step; pass it to vendors
    /// that deduplicate requests.
    pub idempotency_key: String,
    /// 1 on the first attempt.
    pub attempt: u32,
    /// The state of the [`crate::Outcome::Pending`] this step returned last
    /// time, when the host polls it again.
    pub resume: Option<Vec<u8>>,
}

impl<P> Context<P> {
    /// The credential granted in slot `name`, as a JSON object.
    ///
    /// A refusal by the host (the slot is not granted, for one) is a
    /// non-retryable error with code `credential_refused` and the host's
    /// message.
    pub fn credential(&self, name: &str) -> Result<Map<String, Value>, NodeError> {
        let text = host::credential(name)
            .map_err(|message| NodeError::fatal(message).with_code("credential_refused"))?;
        credential_object(name, &text)
    }

    /// The credential in slot `name`, or `None` when none is granted there.
    pub fn credential_opt(&self, name: &str) -> Option<Map<String, Value>> {
        let text = host::credential(name).ok()?;
        credential_object(name, &text).ok()
    }
}

/// Parses a credential's JSON text; its content never reaches the message.
fn credential_object(name: &str, text: &str) -> Result<Map<String, Value>, NodeError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(NodeError::fatal(format!(
            "credential `{name}` is not a JSON object; re-enter it in the credential store"
        ))
        .with_code("invalid_credential")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_that_is_not_an_object_is_refused_without_its_content() {
        let err = credential_object("auth", r#""s3cret""#).unwrap_err();
        assert_eq!(err.code.as_deref(), Some("invalid_credential"));
        assert!(!err.message.contains("s3cret"));
        assert_eq!(
            credential_object("auth", r#"{"token":"t"}"#).unwrap()["token"],
            "t"
        );
    }
}
