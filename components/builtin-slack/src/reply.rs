//! Reading Slack's answers: the Web API's `{"ok": …}` envelope and the
//! webhook's plain-text codes.

use serde_json::{Map, Value};

use n8n_work_sdk::NodeError;
use n8n_work_sdk::http::Response;

/// Slack error codes that may go away when tried again.
const RETRYABLE: [&str; 4] = [
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
];

/// The `chat.postMessage` answer when `ok` is true, or its error.
pub(crate) fn web_api(response: &Response) -> Result<Map<String, Value>, NodeError> {
    const CALL: &str = "Slack chat.postMessage";
    if response.status == 429 {
        return Err(rate_limited(CALL, response));
    }
    if !response.is_success() {
        return Err(http_error(CALL, response));
    }
    let answer = match serde_json::from_slice::<Value>(&response.body) {
        Ok(Value::Object(answer)) => answer,
        _ => {
            return Err(NodeError::fatal(format!(
                "{CALL} answered {} with a body that is not Slack's JSON envelope",
                response.status
            ))
            .with_code("invalid_response"));
        }
    };
    if answer.get("ok").and_then(Value::as_bool) == Some(true) {
        return Ok(answer);
    }
    let code = answer
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("unknown_error")
        .to_owned();
    Err(slack_error(&format!("{CALL} failed: {code}"), &code))
}

/// Nothing when the webhook accepted the message, or its error.
pub(crate) fn webhook(response: &Response) -> Result<(), NodeError> {
    const CALL: &str = "Slack webhook";
    if response.status == 429 {
        return Err(rate_limited(CALL, response));
    }
    if response.is_success() {
        return Ok(());
    }
    let text = response.text();
    let text = text.trim();
    let is_code = !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_');
    if is_code {
        let mut err = slack_error(&format!("{CALL} failed: {text}"), text);
        err.retryable |= response.status >= 500;
        Err(err)
    } else {
        Err(http_error(CALL, response))
    }
}

fn slack_error(message: &str, code: &str) -> NodeError {
    let err = if RETRYABLE.contains(&code) {
        NodeError::retryable(message)
    } else {
        NodeError::fatal(message)
    };
    err.with_code(code)
}

fn rate_limited(call: &str, response: &Response) -> NodeError {
    let wait = response.retry_after();
    let message = match wait {
        Some(wait) => format!(
            "{call} is rate limited; Slack asks to retry after {} s",
            wait.as_secs()
        ),
        None => format!("{call} is rate limited"),
    };
    let err = NodeError::retryable(message).with_code("ratelimited");
    match wait {
        Some(wait) => err.retry_after(wait),
        None => err,
    }
}

fn http_error(call: &str, response: &Response) -> NodeError {
    let mut message = format!("{call} answered {}", response.status);
    if !response.reason().is_empty() {
        message = format!("{message} {}", response.reason());
    }
    let text = response.text();
    let snippet: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect();
    if !snippet.is_empty() {
        message = format!("{message}: {snippet}");
    }
    let err = if response.status >= 500 || response.status == 408 {
        NodeError::retryable(message)
    } else {
        NodeError::fatal(message)
    };
    err.with_code(format!("http_{}", response.status))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn response(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
            method: "POST".into(),
            url: "http://127.0.0.1:9/api/chat.postMessage".into(),
        }
    }

    #[test]
    fn ok_answer_is_returned_whole() {
        let body = r#"{"ok":true,"channel":"C1","ts":"1.2","message":{"text":"hi"}}"#;
        let answer = web_api(&response(200, body)).unwrap();
        assert_eq!(
            Value::Object(answer),
            serde_json::from_str::<Value>(body).unwrap()
        );
    }

    #[test]
    fn slack_error_becomes_the_code() {
        let err = web_api(&response(
            200,
            r#"{"ok":false,"error":"channel_not_found"}"#,
        ))
        .unwrap_err();
        assert_eq!(
            err.message,
            "Slack chat.postMessage failed: channel_not_found"
        );
        assert_eq!(err.code.as_deref(), Some("channel_not_found"));
        assert!(!err.retryable);
        let err = web_api(&response(200, r#"{"ok":false,"error":"internal_error"}"#)).unwrap_err();
        assert!(err.retryable);
        let err = web_api(&response(200, r#"{"ok":false,"error":"invalid_auth"}"#)).unwrap_err();
        assert_eq!(err.code.as_deref(), Some("invalid_auth"));
        assert!(!err.retryable);
    }

    #[test]
    fn http_429_is_ratelimited_after_retry_after() {
        let mut limited = response(429, "");
        limited.headers.push(("Retry-After".into(), "30".into()));
        for err in [
            web_api(&limited).unwrap_err(),
            webhook(&limited).unwrap_err(),
        ] {
            assert_eq!(err.code.as_deref(), Some("ratelimited"));
            assert!(err.retryable);
            assert_eq!(err.retry_after, Some(Duration::from_secs(30)));
        }
    }

    #[test]
    fn webhook_text_codes_become_the_code() {
        assert!(webhook(&response(200, "ok")).is_ok());
        let err = webhook(&response(400, "invalid_payload")).unwrap_err();
        assert_eq!(err.message, "Slack webhook failed: invalid_payload");
        assert_eq!(err.code.as_deref(), Some("invalid_payload"));
        assert!(!err.retryable);
        let err = webhook(&response(404, "no_service")).unwrap_err();
        assert_eq!(err.code.as_deref(), Some("no_service"));
        let err = webhook(&response(500, "rollup_error")).unwrap_err();
        assert!(err.retryable);
    }

    #[test]
    fn other_failures_name_the_status() {
        let err = webhook(&response(502, "<html>Bad gateway</html>")).unwrap_err();
        assert_eq!(
            err.message,
            "Slack webhook answered 502 Bad Gateway: <html>Bad gateway</html>"
        );
        assert_eq!(err.code.as_deref(), Some("http_502"));
        assert!(err.retryable);
        let err = web_api(&response(200, "<html>")).unwrap_err();
        assert_eq!(err.code.as_deref(), Some("invalid_response"));
    }
}
