//! What can go wrong with a request, keeping the `wasi:http` error kind.

use std::fmt;

use crate::NodeError;
use crate::bindings::wasi::http::types::ErrorCode;

/// Why the host's egress policy refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The origin is not granted to this node (`HTTP-request-denied`).
    NotGranted {
        /// The origin that needs a grant, such as `https://api.example.com`.
        origin: String,
    },
    /// The destination address is in a refused range: private, loopback,
    /// link-local, metadata (`destination-IP-prohibited`).
    AddressProhibited,
}

/// The kind of an [`HttpError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpErrorKind {
    /// The egress policy refused the request.
    Refused(Refusal),
    /// DNS, connection, first-byte or read timeout; the `wasi:http` error
    /// kind is kept as text (`connection-timeout`).
    Timeout(String),
    /// The response body exceeded the limit, when known, in bytes.
    TooLarge(Option<u64>),
    /// The destination could not be reached (`connection-refused`,
    /// `DNS-error`, …).
    Connect(String),
    /// The request itself is invalid: the URL, the method or a header.
    InvalidRequest(String),
    /// More redirects than allowed; holds the limit.
    TooManyRedirects(u32),
    /// The response is not what the caller asked for (not JSON, say).
    InvalidResponse(String),
    /// Any other failure, described.
    Other(String),
}

/// A request that failed before an HTTP status arrived. It names the method
/// and the URL (without credentials); its [`fmt::Display`] says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// The request's method.
    pub method: String,
    /// The URL that failed, as safe to show: no user info, and only the
    /// origin for requests made with [`super::Request::secret_url`].
    pub url: String,
    /// What went wrong.
    pub kind: HttpErrorKind,
}

impl HttpError {
    /// Whether trying again later may succeed: timeouts and connection
    /// failures.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            HttpErrorKind::Timeout(_) | HttpErrorKind::Connect(_)
        )
    }

    /// The machine-readable code this error gets as a [`NodeError`].
    pub fn code(&self) -> &'static str {
        match self.kind {
            HttpErrorKind::Refused(_) => "egress_refused",
            HttpErrorKind::Timeout(_) => "timeout",
            HttpErrorKind::TooLarge(_) => "response_too_large",
            HttpErrorKind::Connect(_) => "connect_failed",
            HttpErrorKind::InvalidRequest(_) => "invalid_request",
            HttpErrorKind::TooManyRedirects(_) => "too_many_redirects",
            HttpErrorKind::InvalidResponse(_) => "invalid_response",
            HttpErrorKind::Other(_) => "http_error",
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: ", self.method, self.url)?;
        match &self.kind {
            HttpErrorKind::Refused(Refusal::NotGranted { origin }) => write!(
                f,
                "refused by the egress policy: {origin} is not granted to this node; \
                 grant {origin} to this node"
            ),
            HttpErrorKind::Refused(Refusal::AddressProhibited) => f.write_str(
                "refused by the egress policy: the destination address is in a refused range \
                 (private, loopback, link-local or metadata); an operator must allow it",
            ),
            HttpErrorKind::Timeout(what) => write!(f, "timed out ({what})"),
            HttpErrorKind::TooLarge(Some(limit)) => write!(
                f,
                "the response body is larger than {limit} bytes; raise the response size limit \
                 if that is expected"
            ),
            HttpErrorKind::TooLarge(None) => {
                f.write_str("the response body is larger than the host allows")
            }
            HttpErrorKind::Connect(what) => write!(f, "could not connect ({what})"),
            HttpErrorKind::InvalidRequest(what) => write!(f, "invalid request: {what}"),
            HttpErrorKind::TooManyRedirects(limit) => write!(
                f,
                "more than {limit} redirects; raise the redirect limit or call the final URL"
            ),
            HttpErrorKind::InvalidResponse(what) | HttpErrorKind::Other(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for HttpError {}

impl From<HttpError> for NodeError {
    fn from(err: HttpError) -> Self {
        let message = err.to_string();
        let error = if err.is_retryable() {
            NodeError::retryable(message)
        } else {
            NodeError::fatal(message)
        };
        error.with_code(err.code())
    }
}

/// Maps a `wasi:http` error code to the kind callers can act on.
pub(crate) fn kind_of(code: &ErrorCode, origin: &str) -> HttpErrorKind {
    let name = code_name(code);
    match code {
        ErrorCode::HttpRequestDenied => HttpErrorKind::Refused(Refusal::NotGranted {
            origin: origin.to_owned(),
        }),
        ErrorCode::DestinationIpProhibited => HttpErrorKind::Refused(Refusal::AddressProhibited),
        ErrorCode::DnsTimeout
        | ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout => HttpErrorKind::Timeout(name),
        ErrorCode::HttpResponseBodySize(limit) => HttpErrorKind::TooLarge(*limit),
        ErrorCode::DnsError(_)
        | ErrorCode::DestinationNotFound
        | ErrorCode::DestinationUnavailable
        | ErrorCode::DestinationIpUnroutable
        | ErrorCode::ConnectionRefused
        | ErrorCode::ConnectionTerminated
        | ErrorCode::ConnectionLimitReached => HttpErrorKind::Connect(name),
        ErrorCode::HttpRequestMethodInvalid
        | ErrorCode::HttpRequestUriInvalid
        | ErrorCode::HttpRequestUriTooLong
        | ErrorCode::HttpRequestLengthRequired
        | ErrorCode::HttpRequestBodySize(_)
        | ErrorCode::HttpRequestHeaderSectionSize(_)
        | ErrorCode::HttpRequestHeaderSize(_)
        | ErrorCode::HttpRequestTrailerSectionSize(_)
        | ErrorCode::HttpRequestTrailerSize(_) => HttpErrorKind::InvalidRequest(name),
        _ => HttpErrorKind::Other(name),
    }
}

/// The WIT name of an error code, with its payload when it says something.
pub(crate) fn code_name(code: &ErrorCode) -> String {
    let with = |name: &str, detail: Option<String>| match detail {
        Some(detail) if !detail.is_empty() => format!("{name}: {detail}"),
        _ => name.to_owned(),
    };
    match code {
        ErrorCode::DnsTimeout => "DNS-timeout".into(),
        ErrorCode::DnsError(payload) => with(
            "DNS-error",
            payload
                .rcode
                .clone()
                .or(payload.info_code.map(|code| code.to_string())),
        ),
        ErrorCode::DestinationNotFound => "destination-not-found".into(),
        ErrorCode::DestinationUnavailable => "destination-unavailable".into(),
        ErrorCode::DestinationIpProhibited => "destination-IP-prohibited".into(),
        ErrorCode::DestinationIpUnroutable => "destination-IP-unroutable".into(),
        ErrorCode::ConnectionRefused => "connection-refused".into(),
        ErrorCode::ConnectionTerminated => "connection-terminated".into(),
        ErrorCode::ConnectionTimeout => "connection-timeout".into(),
        ErrorCode::ConnectionReadTimeout => "connection-read-timeout".into(),
        ErrorCode::ConnectionWriteTimeout => "connection-write-timeout".into(),
        ErrorCode::ConnectionLimitReached => "connection-limit-reached".into(),
        ErrorCode::TlsProtocolError => "TLS-protocol-error".into(),
        ErrorCode::TlsCertificateError => "TLS-certificate-error".into(),
        ErrorCode::TlsAlertReceived(payload) => with(
            "TLS-alert-received",
            payload
                .alert_message
                .clone()
                .or(payload.alert_id.map(|id| id.to_string())),
        ),
        ErrorCode::HttpRequestDenied => "HTTP-request-denied".into(),
        ErrorCode::HttpRequestLengthRequired => "HTTP-request-length-required".into(),
        ErrorCode::HttpRequestBodySize(size) => {
            with("HTTP-request-body-size", size.map(|size| size.to_string()))
        }
        ErrorCode::HttpRequestMethodInvalid => "HTTP-request-method-invalid".into(),
        ErrorCode::HttpRequestUriInvalid => "HTTP-request-URI-invalid".into(),
        ErrorCode::HttpRequestUriTooLong => "HTTP-request-URI-too-long".into(),
        ErrorCode::HttpRequestHeaderSectionSize(size) => with(
            "HTTP-request-header-section-size",
            size.map(|size| size.to_string()),
        ),
        ErrorCode::HttpRequestHeaderSize(payload) => with(
            "HTTP-request-header-size",
            payload
                .as_ref()
                .and_then(|payload| payload.field_name.clone()),
        ),
        ErrorCode::HttpRequestTrailerSectionSize(size) => with(
            "HTTP-request-trailer-section-size",
            size.map(|size| size.to_string()),
        ),
        ErrorCode::HttpRequestTrailerSize(payload) => {
            with("HTTP-request-trailer-size", payload.field_name.clone())
        }
        ErrorCode::HttpResponseIncomplete => "HTTP-response-incomplete".into(),
        ErrorCode::HttpResponseHeaderSectionSize(size) => with(
            "HTTP-response-header-section-size",
            size.map(|size| size.to_string()),
        ),
        ErrorCode::HttpResponseHeaderSize(payload) => {
            with("HTTP-response-header-size", payload.field_name.clone())
        }
        ErrorCode::HttpResponseBodySize(size) => {
            with("HTTP-response-body-size", size.map(|size| size.to_string()))
        }
        ErrorCode::HttpResponseTrailerSectionSize(size) => with(
            "HTTP-response-trailer-section-size",
            size.map(|size| size.to_string()),
        ),
        ErrorCode::HttpResponseTrailerSize(payload) => {
            with("HTTP-response-trailer-size", payload.field_name.clone())
        }
        ErrorCode::HttpResponseTransferCoding(coding) => {
            with("HTTP-response-transfer-coding", coding.clone())
        }
        ErrorCode::HttpResponseContentCoding(coding) => {
            with("HTTP-response-content-coding", coding.clone())
        }
        ErrorCode::HttpResponseTimeout => "HTTP-response-timeout".into(),
        ErrorCode::HttpUpgradeFailed => "HTTP-upgrade-failed".into(),
        ErrorCode::HttpProtocolError => "HTTP-protocol-error".into(),
        ErrorCode::LoopDetected => "loop-detected".into(),
        ErrorCode::ConfigurationError => "configuration-error".into(),
        ErrorCode::InternalError(message) => with("internal-error", message.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::wasi::http::types::DnsErrorPayload;

    fn error(code: &ErrorCode) -> HttpError {
        HttpError {
            method: "GET".into(),
            url: "https://api.example.com/v1/users".into(),
            kind: kind_of(code, "https://api.example.com"),
        }
    }

    #[test]
    fn origin_not_granted_names_the_grant_to_add() {
        let err = error(&ErrorCode::HttpRequestDenied);
        assert_eq!(
            err.to_string(),
            "GET https://api.example.com/v1/users: refused by the egress policy: \
             https://api.example.com is not granted to this node; \
             grant https://api.example.com to this node"
        );
        assert_eq!(err.code(), "egress_refused");
        assert!(!err.is_retryable());
    }

    #[test]
    fn prohibited_address_is_an_egress_refusal() {
        let err = error(&ErrorCode::DestinationIpProhibited);
        assert_eq!(err.kind, HttpErrorKind::Refused(Refusal::AddressProhibited));
        assert!(err.to_string().contains("refused by the egress policy"));
        assert!(err.to_string().contains("https://api.example.com/v1/users"));
    }

    #[test]
    fn timeouts_and_connect_failures_are_retryable() {
        for code in [
            ErrorCode::ConnectionTimeout,
            ErrorCode::HttpResponseTimeout,
            ErrorCode::ConnectionReadTimeout,
        ] {
            let err = error(&code);
            assert!(matches!(err.kind, HttpErrorKind::Timeout(_)), "{code:?}");
            assert!(err.is_retryable());
            assert_eq!(err.code(), "timeout");
        }
        let err = error(&ErrorCode::ConnectionRefused);
        assert_eq!(
            err.kind,
            HttpErrorKind::Connect("connection-refused".into())
        );
        assert!(err.is_retryable());
        assert_eq!(
            err.to_string(),
            "GET https://api.example.com/v1/users: could not connect (connection-refused)"
        );
        let dns = error(&ErrorCode::DnsError(DnsErrorPayload {
            rcode: Some("NXDOMAIN".into()),
            info_code: None,
        }));
        assert_eq!(
            dns.kind,
            HttpErrorKind::Connect("DNS-error: NXDOMAIN".into())
        );
    }

    #[test]
    fn body_size_limit_is_too_large() {
        let err = error(&ErrorCode::HttpResponseBodySize(Some(10)));
        assert_eq!(err.kind, HttpErrorKind::TooLarge(Some(10)));
        assert_eq!(err.code(), "response_too_large");
        assert!(!err.is_retryable());
    }

    #[test]
    fn node_error_keeps_code_message_and_retryability() {
        let err: NodeError = error(&ErrorCode::ConnectionTimeout).into();
        assert_eq!(err.code.as_deref(), Some("timeout"));
        assert!(err.retryable);
        assert_eq!(
            err.message,
            "GET https://api.example.com/v1/users: timed out (connection-timeout)"
        );
        let other: NodeError = error(&ErrorCode::HttpProtocolError).into();
        assert_eq!(other.code.as_deref(), Some("http_error"));
        assert!(!other.retryable);
    }
}
