//! One request over `wasi:http/outgoing-handler`: the only code in the SDK
//! that touches `wasi:http` resources.

use std::time::Duration;

use url::Position;

use super::redirect::Hop;
use super::{HttpError, HttpErrorKind, Target};
use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    Fields, FutureIncomingResponse, HeaderError, IncomingBody, IncomingResponse, Method,
    OutgoingBody, OutgoingRequest, RequestOptions, Scheme, http_error_code,
};
use crate::bindings::wasi::io::streams::{InputStream, OutputStream, StreamError};

/// The most bytes `blocking-write-and-flush` accepts in one call.
const WRITE_CHUNK: usize = 4096;

/// How many bytes one read asks for.
const READ_CHUNK: u64 = 64 * 1024;

/// Response headers: lower-case names and their values as text.
pub(crate) type Headers = Vec<(String, String)>;

/// Per-request limits.
pub(crate) struct Limits {
    pub(crate) timeout: Option<Duration>,
    pub(crate) max_response_bytes: Option<u64>,
}

/// A response whose body has not been read yet.
pub(crate) struct Head {
    pub(crate) status: u16,
    pub(crate) headers: Headers,
    response: IncomingResponse,
}

/// Sends one hop and waits for the response head.
pub(crate) fn send(hop: &Hop, limits: &Limits, target: &Target) -> Result<Head, HttpError> {
    let invalid = |detail: String| target.error(HttpErrorKind::InvalidRequest(detail));
    let fields = Fields::new();
    for header in &hop.headers {
        if header.name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        fields
            .append(&header.name.to_ascii_lowercase(), header.value.as_bytes())
            .map_err(|err| invalid(header_error(&header.name, &err)))?;
    }
    if let Some(body) = &hop.body {
        fields
            .append("content-length", body.len().to_string().as_bytes())
            .map_err(|err| invalid(header_error("content-length", &err)))?;
    }

    let request = OutgoingRequest::new(fields);
    request
        .set_method(&method(&hop.method))
        .map_err(|()| invalid(format!("the host does not accept method `{}`", hop.method)))?;
    let scheme = if hop.url.scheme() == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid("the host does not accept the scheme".to_owned()))?;
    request
        .set_authority(Some(&authority(&hop.url)))
        .map_err(|()| invalid("the host does not accept the host name".to_owned()))?;
    request
        .set_path_with_query(Some(&hop.url[Position::BeforePath..Position::AfterQuery]))
        .map_err(|()| invalid("the host does not accept the path".to_owned()))?;

    let body =
        match &hop.body {
            Some(_) => Some(request.body().map_err(|()| {
                target.error(HttpErrorKind::Other("request body unavailable".into()))
            })?),
            None => None,
        };
    let options = limits.timeout.map(request_options);
    let future =
        outgoing_handler::handle(request, options).map_err(|code| target.error_for_code(&code))?;

    if let (Some(body), Some(bytes)) = (body, &hop.body)
        && let Err(write_error) = write_body(body, bytes, target)
    {
        // A failed write usually means the request failed; the response says
        // why (refused by the egress policy, say).
        return Err(match wait(&future, target) {
            Err(err) => err,
            Ok(_) => write_error,
        });
    }
    let response = wait(&future, target)?;
    drop(future);

    let status = response.status();
    let headers = {
        let fields = response.headers();
        fields
            .entries()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect()
    };
    Ok(Head {
        status,
        headers,
        response,
    })
}

/// Reads the whole body of `head`, within the size limit.
pub(crate) fn read_body(
    head: Head,
    limits: &Limits,
    target: &Target,
) -> Result<(Headers, Vec<u8>), HttpError> {
    let Head {
        headers, response, ..
    } = head;
    let too_large = || target.error(HttpErrorKind::TooLarge(limits.max_response_bytes));
    let declared = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<u64>().ok());
    if let (Some(max), Some(declared)) = (limits.max_response_bytes, declared)
        && declared > max
    {
        return Err(too_large());
    }
    let other = |detail: &str| target.error(HttpErrorKind::Other(detail.to_owned()));
    let body = response
        .consume()
        .map_err(|()| other("response body unavailable"))?;
    let mut bytes = Vec::new();
    {
        let stream: InputStream = body
            .stream()
            .map_err(|()| other("response body stream unavailable"))?;
        loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) => {
                    bytes.extend_from_slice(&chunk);
                    let read = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
                    if limits.max_response_bytes.is_some_and(|max| read > max) {
                        return Err(too_large());
                    }
                }
                Err(StreamError::Closed) => break,
                Err(err) => return Err(stream_error(err, target)),
            }
        }
    }
    drop(IncomingBody::finish(body));
    drop(response);
    Ok((headers, bytes))
}

/// Writes the request body in chunks the stream accepts, then finishes it.
fn write_body(body: OutgoingBody, bytes: &[u8], target: &Target) -> Result<(), HttpError> {
    {
        let stream: OutputStream = body.write().map_err(|()| {
            target.error(HttpErrorKind::Other(
                "request body stream unavailable".into(),
            ))
        })?;
        for chunk in bytes.chunks(WRITE_CHUNK) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|err| stream_error(err, target))?;
        }
    }
    OutgoingBody::finish(body, None).map_err(|code| target.error_for_code(&code))
}

/// Blocks until the response head arrives.
fn wait(future: &FutureIncomingResponse, target: &Target) -> Result<IncomingResponse, HttpError> {
    let pollable = future.subscribe();
    pollable.block();
    drop(pollable);
    let other = |detail: &str| target.error(HttpErrorKind::Other(detail.to_owned()));
    match future.get() {
        Some(Ok(Ok(response))) => Ok(response),
        Some(Ok(Err(code))) => Err(target.error_for_code(&code)),
        Some(Err(())) => Err(other("the response was already taken")),
        None => Err(other("the response is not ready after waiting for it")),
    }
}

fn stream_error(err: StreamError, target: &Target) -> HttpError {
    match err {
        StreamError::Closed => target.error(HttpErrorKind::Other("the stream closed early".into())),
        StreamError::LastOperationFailed(io) => match http_error_code(&io) {
            Some(code) => target.error_for_code(&code),
            None => target.error(HttpErrorKind::Other(io.to_debug_string())),
        },
    }
}

fn request_options(timeout: Duration) -> RequestOptions {
    let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
    let options = RequestOptions::new();
    // A host that does not support one of these keeps its own limit.
    let _ = options.set_connect_timeout(Some(nanos));
    let _ = options.set_first_byte_timeout(Some(nanos));
    let _ = options.set_between_bytes_timeout(Some(nanos));
    options
}

fn method(method: &str) -> Method {
    match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_owned()),
    }
}

/// `host[:port]`, the port only when it is not the scheme's default.
fn authority(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

fn header_error(name: &str, err: &HeaderError) -> String {
    match err {
        HeaderError::Forbidden => {
            format!("header `{name}` is managed by the host and cannot be set; remove it")
        }
        HeaderError::InvalidSyntax => format!("header `{name}` has an invalid name or value"),
        HeaderError::Immutable => format!("header `{name}` cannot be changed"),
    }
}
