//! The error a node returns.

use std::fmt;
use std::time::Duration;

use crate::bindings::n8n_work::node::types as wit;

/// A failure of the node's own making: bad input, a vendor's refusal.
///
/// The host shows `message` to the user and retries the step when
/// `retryable` is set, after `retry_after` when the vendor said how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeError {
    /// What failed, on which input, and what to do about it.
    pub message: String,
    /// Whether trying again later may succeed (timeouts, 429s, 5xx).
    pub retryable: bool,
    /// How long to wait before a retry, when the vendor said.
    pub retry_after: Option<Duration>,
    /// A short machine-readable code, such as Slack's `channel_not_found`.
    pub code: Option<String>,
}

impl NodeError {
    /// An error that trying again will not fix.
    pub fn fatal(message: impl Into<String>) -> Self {
        NodeError {
            message: message.into(),
            retryable: false,
            retry_after: None,
            code: None,
        }
    }

    /// An error that trying again later may fix.
    pub fn retryable(message: impl Into<String>) -> Self {
        NodeError {
            retryable: true,
            ..NodeError::fatal(message)
        }
    }

    /// This error with a machine-readable code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// This error with the wait the vendor asked for before a retry.
    pub fn retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} [{code}]", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for NodeError {}

impl From<NodeError> for wit::NodeError {
    fn from(err: NodeError) -> Self {
        wit::NodeError {
            message: err.message,
            retryable: err.retryable,
            retry_after_ms: err
                .retry_after
                .map(|wait| u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)),
            code: err.code,
        }
    }
}

impl From<wit::NodeError> for NodeError {
    fn from(err: wit::NodeError) -> Self {
        NodeError {
            message: err.message,
            retryable: err.retryable,
            retry_after: err.retry_after_ms.map(Duration::from_millis),
            code: err.code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_sets_every_field_of_the_wit_error() {
        let err = NodeError::retryable("slow down")
            .with_code("ratelimited")
            .retry_after(Duration::from_secs(3));
        let wit: wit::NodeError = err.clone().into();
        assert_eq!(wit.message, "slow down");
        assert!(wit.retryable);
        assert_eq!(wit.retry_after_ms, Some(3000));
        assert_eq!(wit.code.as_deref(), Some("ratelimited"));
        assert_eq!(NodeError::from(wit), err);
    }

    #[test]
    fn fatal_is_not_retryable() {
        let err = NodeError::fatal("bad");
        assert!(!err.retryable);
        assert_eq!(err.to_string(), "bad");
    }
}
