//! A blocking HTTP client over `wasi:http/outgoing-handler`, the only way
//! out of the sandbox.
//!
//! The principal type is [`Request`]; [`Request::send`] returns a
//! [`Response`] for any HTTP status and an [`HttpError`] when no status
//! arrived (refused by the egress policy, timed out, could not connect).
//! Redirects are followed by the SDK as new requests, so the host's egress
//! policy checks every hop.
//!
//! ```no_run
//! use n8n_work_sdk::http::Request;
//! use std::time::Duration;
//!
//! # fn run() -> Result<(), n8n_work_sdk::NodeError> {
//! let response = Request::post("https://api.example.com/v1/items")
//!     .bearer("token")
//!     .json(&serde_json::json!({"name": "x"}))
//!     .timeout(Duration::from_secs(10))
//!     .send()?;
//! let created: serde_json::Value = response.json()?;
//! # Ok(())
//! # }
//! ```

mod error;
mod redirect;
mod response;
mod transport;

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use serde::Serialize;
use url::Url;

pub use error::{HttpError, HttpErrorKind, Refusal};
use redirect::Hop;
pub use response::{Response, reason_phrase};

/// How many redirects [`Request::send`] follows unless told otherwise.
pub const DEFAULT_MAX_REDIRECTS: u32 = 5;

/// Header names whose values are credentials: never shown, and dropped when
/// a redirect leaves the origin.
const CREDENTIAL_HEADERS: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
];

/// One request header.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) name: String,
    pub(crate) value: String,
    /// Set for values that must not be shown or follow a cross-origin
    /// redirect.
    pub(crate) secret: bool,
}

impl Header {
    pub(crate) fn new(name: &str, value: &str) -> Self {
        Header {
            name: name.to_owned(),
            value: value.to_owned(),
            secret: false,
        }
    }

    pub(crate) fn secret(name: &str, value: &str) -> Self {
        Header {
            secret: true,
            ..Header::new(name, value)
        }
    }

    pub(crate) fn is_credential(&self) -> bool {
        self.secret
            || CREDENTIAL_HEADERS
                .iter()
                .any(|name| self.name.eq_ignore_ascii_case(name))
    }

    /// Headers that describe a body, dropped with it.
    pub(crate) fn describes_body(&self) -> bool {
        ["content-type", "content-length", "content-encoding"]
            .iter()
            .any(|name| self.name.eq_ignore_ascii_case(name))
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_credential() {
            write!(f, "{}: <redacted>", self.name)
        } else {
            write!(f, "{}: {}", self.name, self.value)
        }
    }
}

/// An HTTP request, built with chained calls and sent with
/// [`Request::send`].
///
/// Its `Debug` output never shows credentials or the body.
#[derive(Clone)]
pub struct Request {
    method: String,
    url: String,
    query: Vec<(String, String)>,
    headers: Vec<Header>,
    body: Option<Vec<u8>>,
    body_content_type: Option<&'static str>,
    body_error: Option<String>,
    timeout: Option<Duration>,
    max_redirects: u32,
    max_response_bytes: Option<u64>,
    secret_url: bool,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.shown_url_text())
            .field("query", &self.query.len())
            .field("headers", &self.headers)
            .field("body_bytes", &self.body.as_ref().map(Vec::len))
            .field("timeout", &self.timeout)
            .field("max_redirects", &self.max_redirects)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
    }
}

impl Request {
    /// A request with `method` (any case; sent upper-case) to `url`.
    pub fn new(method: &str, url: impl Into<String>) -> Self {
        Request {
            method: method.trim().to_ascii_uppercase(),
            url: url.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            body_content_type: None,
            body_error: None,
            timeout: None,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            max_response_bytes: None,
            secret_url: false,
        }
    }

    /// A `GET` request.
    pub fn get(url: impl Into<String>) -> Self {
        Request::new("GET", url)
    }

    /// A `POST` request.
    pub fn post(url: impl Into<String>) -> Self {
        Request::new("POST", url)
    }

    /// A `PUT` request.
    pub fn put(url: impl Into<String>) -> Self {
        Request::new("PUT", url)
    }

    /// A `PATCH` request.
    pub fn patch(url: impl Into<String>) -> Self {
        Request::new("PATCH", url)
    }

    /// A `DELETE` request.
    pub fn delete(url: impl Into<String>) -> Self {
        Request::new("DELETE", url)
    }

    /// This request with header `name` set to `value`, replacing any value
    /// it had. `Authorization`, `Cookie` and `X-Api-Key` are treated as
    /// credentials (see [`Request::secret_header`]).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.set_header(Header::new(name, value));
        self
    }

    /// Like [`Request::header`], for a value that is a credential: it is
    /// never shown and is dropped when a redirect leaves the origin.
    pub fn secret_header(mut self, name: &str, value: &str) -> Self {
        self.set_header(Header::secret(name, value));
        self
    }

    /// This request with `name=value` appended to the URL's query.
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    /// This request with `value` as a JSON body (`Content-Type:
    /// application/json` unless a header sets another).
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(bytes) => {
                self.body = Some(bytes);
                self.body_content_type = Some("application/json");
            }
            Err(err) => self.body_error = Some(format!("the JSON body cannot be encoded: {err}")),
        }
        self
    }

    /// This request with `pairs` as an `application/x-www-form-urlencoded`
    /// body.
    pub fn form<K: AsRef<str>, V: AsRef<str>>(mut self, pairs: &[(K, V)]) -> Self {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in pairs {
            form.append_pair(name.as_ref(), value.as_ref());
        }
        self.body = Some(form.finish().into_bytes());
        self.body_content_type = Some("application/x-www-form-urlencoded");
        self
    }

    /// This request with `bytes` as the body; set `Content-Type` with
    /// [`Request::header`].
    pub fn body(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.body = Some(bytes.into());
        self.body_content_type = None;
        self
    }

    /// This request with `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.secret_header("Authorization", &format!("Bearer {token}"))
    }

    /// This request with HTTP basic authentication.
    pub fn basic(self, user: &str, password: &str) -> Self {
        self.secret_header("Authorization", &basic_value(user, password))
    }

    /// This request with a timeout for connecting, for the first byte of the
    /// response and between bytes of it. The host's limits apply too.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// This request following at most `max` redirects (default
    /// [`DEFAULT_MAX_REDIRECTS`]); 0 returns redirects as responses.
    pub fn max_redirects(mut self, max: u32) -> Self {
        self.max_redirects = max;
        self
    }

    /// This request failing with [`HttpErrorKind::TooLarge`] when the
    /// response body exceeds `max` bytes.
    pub fn max_response_bytes(mut self, max: u64) -> Self {
        self.max_response_bytes = Some(max);
        self
    }

    /// Marks the URL itself as a secret (a webhook URL): errors show only
    /// its origin.
    pub fn secret_url(mut self) -> Self {
        self.secret_url = true;
        self
    }

    /// Sends the request, following redirects, and reads the whole response.
    ///
    /// Any HTTP status is a [`Response`]; an [`HttpError`] means no usable
    /// response arrived.
    pub fn send(self) -> Result<Response, HttpError> {
        let limits = transport::Limits {
            timeout: self.timeout,
            max_response_bytes: self.max_response_bytes,
        };
        let max_redirects = self.max_redirects;
        let secret_url = self.secret_url;
        let mut hop = self.into_hop()?;
        let mut redirects = 0;
        loop {
            let target = Target::of(&hop, secret_url);
            let head = transport::send(&hop, &limits, &target)?;
            let status = head.status;
            let location = find_header(&head.headers, "location")
                .filter(|_| max_redirects > 0 && redirect::is_redirect(status))
                .map(str::to_owned);
            if let Some(location) = location {
                // The redirect's own body is not read.
                drop(head);
                if redirects == max_redirects {
                    return Err(target.error(HttpErrorKind::TooManyRedirects(max_redirects)));
                }
                redirects += 1;
                hop = redirect::follow(hop, status, &location)
                    .map_err(|detail| target.error(HttpErrorKind::InvalidRequest(detail)))?;
                continue;
            }
            let (headers, body) = transport::read_body(head, &limits, &target)?;
            return Ok(Response {
                status,
                headers,
                body,
                method: hop.method,
                url: target.url,
            });
        }
    }

    /// Checks the request and turns it into its first hop.
    fn into_hop(self) -> Result<Hop, HttpError> {
        let fail = |detail: String| HttpError {
            method: self.method.clone(),
            url: self.shown_url_text(),
            kind: HttpErrorKind::InvalidRequest(detail),
        };
        if let Some(detail) = &self.body_error {
            return Err(fail(detail.clone()));
        }
        if self.method.is_empty() || !self.method.bytes().all(is_token_byte) {
            return Err(fail(format!("`{}` is not an HTTP method", self.method)));
        }
        let mut url = Url::parse(self.url.trim())
            .map_err(|err| fail(format!("`{}` is not a URL ({err})", self.shown_url_text())))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(fail(format!(
                "`{}` is not an http or https URL",
                self.shown_url_text()
            )));
        }
        url.set_fragment(None);
        if !self.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in &self.query {
                pairs.append_pair(name, value);
            }
        }
        let mut headers = self.headers;
        // User info is never sent in the URL; it becomes basic auth unless
        // the request authenticates another way.
        if !url.username().is_empty() || url.password().is_some() {
            let user = percent_decode(url.username());
            let password = url.password().map(percent_decode).unwrap_or_default();
            if !headers
                .iter()
                .any(|header| header.name.eq_ignore_ascii_case("authorization"))
            {
                headers.push(Header::secret(
                    "Authorization",
                    &basic_value(&user, &password),
                ));
            }
            let _ = url.set_username("");
            let _ = url.set_password(None);
        }
        if let Some(content_type) = self.body_content_type
            && !headers
                .iter()
                .any(|header| header.name.eq_ignore_ascii_case("content-type"))
        {
            headers.push(Header::new("Content-Type", content_type));
        }
        Ok(Hop {
            method: self.method,
            url,
            headers,
            body: self.body,
        })
    }

    fn set_header(&mut self, header: Header) {
        self.headers
            .retain(|existing| !existing.name.eq_ignore_ascii_case(&header.name));
        self.headers.push(header);
    }

    /// The URL as errors show it, before it is parsed.
    fn shown_url_text(&self) -> String {
        match Url::parse(self.url.trim()) {
            Ok(url) => shown_url(&url, self.secret_url),
            Err(_) if self.secret_url => "<secret URL>".to_owned(),
            Err(_) => self.url.clone(),
        }
    }
}

/// What errors about one hop name.
pub(crate) struct Target {
    method: String,
    url: String,
    origin: String,
}

impl Target {
    fn of(hop: &Hop, secret_url: bool) -> Self {
        Target {
            method: hop.method.clone(),
            url: shown_url(&hop.url, secret_url),
            origin: hop.url.origin().ascii_serialization(),
        }
    }

    pub(crate) fn error(&self, kind: HttpErrorKind) -> HttpError {
        HttpError {
            method: self.method.clone(),
            url: self.url.clone(),
            kind,
        }
    }

    pub(crate) fn error_for_code(
        &self,
        code: &crate::bindings::wasi::http::types::ErrorCode,
    ) -> HttpError {
        self.error(error::kind_of(code, &self.origin))
    }
}

/// A URL as safe to show: no user info; only the origin when it is secret.
fn shown_url(url: &Url, secret: bool) -> String {
    if secret {
        return format!("{}/…", url.origin().ascii_serialization());
    }
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

fn basic_value(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// Decodes the `%XX` escapes of URL user info; other bytes stay as they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = bytes
            .get(index + 1..index + 3)
            .filter(|_| bytes[index] == b'%')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                index += 3;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// RFC 9110 `tchar`.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn header<'a>(hop: &'a Hop, name: &str) -> Option<&'a str> {
        hop.headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case(name))
            .map(|header| header.value.as_str())
    }

    #[test]
    fn query_pairs_are_encoded_and_appended() {
        let hop = Request::get("https://api.example.com/search?lang=en#top")
            .query("q", "a b&c=d")
            .query("emoji", "✓")
            .into_hop()
            .unwrap();
        assert_eq!(
            hop.url.as_str(),
            "https://api.example.com/search?lang=en&q=a+b%26c%3Dd&emoji=%E2%9C%93"
        );
    }

    #[test]
    fn form_body_is_url_encoded_with_its_content_type() {
        let hop = Request::post("https://api.example.com/form")
            .form(&[("name", "Ann Lee"), ("note", "a&b=c")])
            .into_hop()
            .unwrap();
        assert_eq!(
            hop.body.as_deref(),
            Some(&b"name=Ann+Lee&note=a%26b%3Dc"[..])
        );
        assert_eq!(
            header(&hop, "content-type"),
            Some("application/x-www-form-urlencoded")
        );
    }

    #[test]
    fn json_body_keeps_an_explicit_content_type() {
        let hop = Request::post("https://api.example.com/x")
            .json(&json!({"a": 1}))
            .header("Content-Type", "application/vnd.api+json")
            .into_hop()
            .unwrap();
        assert_eq!(hop.body.as_deref(), Some(&br#"{"a":1}"#[..]));
        assert_eq!(
            header(&hop, "content-type"),
            Some("application/vnd.api+json")
        );
        assert_eq!(hop.headers.len(), 1);
    }

    #[test]
    fn user_info_becomes_basic_auth_and_leaves_the_url() {
        let hop = Request::get("https://ann:p%40ss@api.example.com/")
            .into_hop()
            .unwrap();
        assert_eq!(hop.url.as_str(), "https://api.example.com/");
        // base64("ann:p@ss")
        assert_eq!(header(&hop, "authorization"), Some("Basic YW5uOnBAc3M="));
    }

    #[test]
    fn header_replaces_and_bearer_is_secret() {
        let request = Request::get("https://api.example.com/")
            .header("X-A", "1")
            .header("x-a", "2")
            .bearer("t0ken");
        let debug = format!("{request:?}");
        assert!(!debug.contains("t0ken"), "{debug}");
        let hop = request.into_hop().unwrap();
        assert_eq!(header(&hop, "x-a"), Some("2"));
        assert_eq!(hop.headers.len(), 2);
        assert!(hop.headers[1].is_credential());
    }

    #[test]
    fn invalid_url_and_method_are_invalid_requests() {
        let err = Request::get("ftp://example.com/x").into_hop().unwrap_err();
        assert_eq!(err.code(), "invalid_request");
        assert_eq!(
            err.to_string(),
            "GET ftp://example.com/x: invalid request: `ftp://example.com/x` is not an http or https URL"
        );
        let err = Request::new("GE T", "https://example.com/")
            .into_hop()
            .unwrap_err();
        assert!(err.to_string().contains("`GE T` is not an HTTP method"));
        let err = Request::get("not a url").into_hop().unwrap_err();
        assert!(err.to_string().contains("is not a URL"));
    }

    #[test]
    fn secret_url_shows_only_the_origin_in_errors() {
        let err = Request::post("ftp://hooks.example.com/T000/B000/secret")
            .secret_url()
            .into_hop()
            .unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        let shown = shown_url(
            &Url::parse("https://u:p@hooks.example.com/T0/B0").unwrap(),
            true,
        );
        assert_eq!(shown, "https://hooks.example.com/…");
        let shown = shown_url(
            &Url::parse("https://u:p@api.example.com/v1").unwrap(),
            false,
        );
        assert_eq!(shown, "https://api.example.com/v1");
    }
}
