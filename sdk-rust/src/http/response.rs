//! A response, read whole.

use std::time::Duration;

use serde::de::DeserializeOwned;

use super::{HttpError, HttpErrorKind, find_header};

/// A response: any HTTP status, with the whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The headers in the order received; names are lower-case.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
    /// The method of the request that this answers (after redirects).
    pub method: String,
    /// The URL that answered (after redirects), as safe to show.
    pub url: String,
}

impl Response {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The status's reason phrase, such as `Not Found`; empty when unknown.
    pub fn reason(&self) -> &'static str {
        reason_phrase(self.status)
    }

    /// The body as text; invalid UTF-8 is replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON into `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body).map_err(|err| HttpError {
            method: self.method.clone(),
            url: self.url.clone(),
            kind: HttpErrorKind::InvalidResponse(format!(
                "the {} response body is not the expected JSON ({err})",
                self.status
            )),
        })
    }

    /// The `Retry-After` header as a wait, when it holds seconds.
    pub fn retry_after(&self) -> Option<Duration> {
        self.header("retry-after")
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
    }
}

/// The reason phrase of common statuses.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        511 => "Network Authentication Required",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn response_helpers_read_headers_and_bodies() {
        let response = Response {
            status: 429,
            headers: vec![("retry-after".into(), "7".into())],
            body: b"{\"ok\":false}".to_vec(),
            method: "GET".into(),
            url: "https://api.example.com/".into(),
        };
        assert_eq!(response.header("Retry-After"), Some("7"));
        assert_eq!(response.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(response.reason(), "Too Many Requests");
        assert!(!response.is_success());
        assert_eq!(
            response.json::<serde_json::Value>().unwrap(),
            json!({"ok": false})
        );
        let err = response.json::<Vec<u8>>().unwrap_err();
        assert_eq!(err.code(), "invalid_response");
    }
}
