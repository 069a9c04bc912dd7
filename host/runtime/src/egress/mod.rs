//! Egress: every outgoing `wasi:http` request of a node passes through
//! [`EgressPolicy`].
//!
//! A request is sent only when one of the node's [`Grant`]s covers its
//! origin; the host name is then resolved here, every resolved address is
//! checked against [`non_public_reason`] (unless the operator's
//! [`PrivateAllowlist`] allows it), and the connection goes to the checked
//! address, so a second DNS answer cannot swap it. Redirects are new
//! requests from the guest and pass the same checks. Refusals reach the guest
//! as `wasi:http` error codes (`HTTP-request-denied` for an origin that is
//! not granted, `destination-IP-prohibited` for a refused address) and are
//! logged with the node and the URL.

mod address;
mod grant;
mod rate;

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

pub use address::{AllowlistError, PrivateAllowlist, non_public_reason};
pub use grant::{Grant, GrantError, Scheme};
pub use rate::{EgressRateError, EgressRates, Per, Rate};

use crate::log::{LogLevel, LogSource, StepLog};

/// Operator settings for all egress (config section `egress`).
#[derive(Clone, Debug)]
pub struct EgressConfig {
    /// Private addresses nodes may reach anyway.
    pub allow_private: PrivateAllowlist,
    /// Time allowed to resolve and connect.
    pub connect_timeout: Duration,
    /// Time allowed for a whole request, response body included.
    pub request_timeout: Duration,
    /// Largest response body a node may receive.
    pub max_response_bytes: u64,
    /// Requests per second to each provider host.
    pub rates: EgressRates,
}

impl Default for EgressConfig {
    fn default() -> Self {
        EgressConfig {
            allow_private: PrivateAllowlist::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_response_bytes: 32 * 1024 * 1024,
            rates: EgressRates::default(),
        }
    }
}

/// The checks and the connector behind every node's outgoing HTTP.
#[derive(Debug)]
pub struct EgressPolicy {
    config: EgressConfig,
    rates: rate::RateLimits,
    tls: Arc<rustls::ClientConfig>,
}

impl EgressPolicy {
    /// A policy with the given operator settings, trusting the Mozilla root
    /// certificates.
    pub fn new(config: EgressConfig) -> Self {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        EgressPolicy {
            rates: rate::RateLimits::new(&config.rates),
            config,
            tls: Arc::new(tls),
        }
    }

    /// The operator settings.
    pub fn config(&self) -> &EgressConfig {
        &self.config
    }
}

/// What a step sent and received over HTTP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EgressUsage {
    /// Requests that were sent.
    pub calls: u64,
    /// Requests refused by the policy.
    pub refused: u64,
    /// Request body bytes sent.
    pub bytes_sent: u64,
    /// Response body bytes received.
    pub bytes_received: u64,
}

#[derive(Debug, Default)]
pub(crate) struct EgressCounters {
    calls: AtomicU64,
    refused: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
}

impl EgressCounters {
    pub(crate) fn snapshot(&self) -> EgressUsage {
        EgressUsage {
            calls: self.calls.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
        }
    }
}

/// The per-step `wasi:http` hooks: one node's grants under the shared policy.
pub(crate) struct EgressHooks {
    pub(crate) policy: Arc<EgressPolicy>,
    pub(crate) grants: Arc<[Grant]>,
    pub(crate) node: Arc<str>,
    pub(crate) counters: Arc<EgressCounters>,
    pub(crate) log: StepLog,
}

impl WasiHttpHooks for EgressHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_errors: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                    ),
                    HttpError,
                >,
            > + Send,
    > {
        let sender = EgressRequest {
            policy: self.policy.clone(),
            grants: self.grants.clone(),
            node: self.node.clone(),
            counters: self.counters.clone(),
            log: self.log.clone(),
        };
        Box::new(async move {
            if let Some(refusal) = sender.over_rate(&request) {
                return Ok((
                    refusal,
                    Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
                ));
            }
            let (response, io) = sender.send(request, options).await?;
            Ok((response, Box::new(io) as Box<dyn Future<Output = _> + Send>))
        })
    }
}

/// One request on its way out, with what it needs from the step.
struct EgressRequest {
    policy: Arc<EgressPolicy>,
    grants: Arc<[Grant]>,
    node: Arc<str>,
    counters: Arc<EgressCounters>,
    log: StepLog,
}

/// Where a request goes, as checked.
struct Target {
    scheme: Scheme,
    host: String,
    port: u16,
    /// The URL without its query (which may carry secrets), for messages.
    shown: String,
}

impl EgressRequest {
    async fn send(
        self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<
        (
            http::Response<WasiBody>,
            impl Future<Output = Result<(), HttpError>> + Send + use<>,
        ),
        HttpError,
    > {
        let started = Instant::now();
        let config = &self.policy.config;
        let target = self.target(&request)?;
        let method = request.method().clone();
        if !self
            .grants
            .iter()
            .any(|g| g.allows(target.scheme, &target.host, target.port))
        {
            let origin = grant::origin_text(target.scheme, &target.host, target.port);
            return Err(self.refuse(
                &method,
                &target,
                &format!("`{origin}` is not granted to this node; add the grant `{origin}` to it"),
                HttpError::HttpRequestDenied,
            ));
        }

        let connect_timeout = options
            .and_then(|o| o.connect_timeout)
            .map_or(config.connect_timeout, |t| t.min(config.connect_timeout));
        let addrs = self.resolve(&method, &target, connect_timeout).await?;
        let stream = self.connect(&addrs, connect_timeout).await?;
        let io: Box<dyn Io> = match target.scheme {
            Scheme::Http => Box::new(stream),
            Scheme::Https => {
                let name = match target.host.parse::<IpAddr>() {
                    Ok(ip) => rustls::pki_types::ServerName::IpAddress(ip.into()),
                    Err(_) => rustls::pki_types::ServerName::try_from(target.host.clone())
                        .map_err(HttpError::InvalidDnsNameError)?,
                };
                let tls = tokio_rustls::TlsConnector::from(self.policy.tls.clone());
                let stream = tokio::time::timeout(connect_timeout, tls.connect(name, stream))
                    .await
                    .map_err(|_| HttpError::ConnectionTimeout)?
                    .map_err(HttpError::Tls)?;
                Box::new(stream)
            }
        };
        let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(io))
            .await?;

        let (mut parts, body) = request.into_parts();
        // On the wire the request line carries only the path and query.
        parts.uri = http::Uri::builder()
            .path_and_query(parts.uri.path_and_query().map_or("/", |p| p.as_str()))
            .build()
            .map_err(|_| HttpError::HttpRequestUriInvalid)?;
        let sent = self.counters.clone();
        let body = body.map_frame(move |frame| {
            if let Some(data) = frame.data_ref() {
                sent.bytes_sent
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
            }
            frame
        });
        self.counters.calls.fetch_add(1, Ordering::Relaxed);

        let deadline = started + config.request_timeout;
        let first_byte_timeout = options.and_then(|o| o.first_byte_timeout);
        let between_bytes = options.and_then(|o| o.between_bytes_timeout);
        let response = async {
            let send = sender.send_request(http::Request::from_parts(parts, body));
            let response = match first_byte_timeout {
                Some(limit) => tokio::time::timeout_at(deadline.min(Instant::now() + limit), send)
                    .await
                    .map_err(|_| HttpError::ConnectionReadTimeout)?,
                None => tokio::time::timeout_at(deadline, send)
                    .await
                    .map_err(|_| HttpError::HttpResponseTimeout)?,
            };
            response.map_err(HttpError::from)
        };
        // Drive the connection while waiting for the response head.
        let mut conn = Box::pin(conn);
        let mut response = std::pin::pin!(response);
        let mut conn_done = false;
        let response = std::future::poll_fn(|cx| {
            if let Poll::Ready(result) = response.as_mut().poll(cx) {
                return Poll::Ready(result);
            }
            if !conn_done && let Poll::Ready(result) = conn.as_mut().poll(cx) {
                conn_done = true;
                if let Err(e) = result {
                    return Poll::Ready(Err(HttpError::from(e)));
                }
                return response.as_mut().poll(cx);
            }
            Poll::Pending
        })
        .await?;

        let limit = config.max_response_bytes;
        if let Some(declared) = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .filter(|&len| len > limit)
        {
            self.log.push(
                LogLevel::Warn,
                LogSource::Host,
                format!(
                    "{method} {}: response of {declared} bytes is over the {limit}-byte cap (egress.max_response_bytes)",
                    target.shown
                ),
            );
            return Err(HttpError::HttpResponseBodySize(Some(declared)));
        }
        let counters = self.counters.clone();
        let response = response.map(|incoming| {
            CappedBody {
                incoming,
                remaining: limit,
                limit,
                counters,
                deadline: Box::pin(tokio::time::sleep_until(deadline)),
                between_bytes: between_bytes.map(|d| (d, Box::pin(tokio::time::sleep(d)))),
            }
            .boxed_unsync()
        });
        let io = async move {
            if conn_done {
                return Ok(());
            }
            conn.await.map_err(|e| {
                if e.is_timeout() {
                    HttpError::HttpResponseTimeout
                } else {
                    HttpError::from(e)
                }
            })
        };
        Ok((response, io))
    }

    /// The host's own `429` when the request's host is over its rate
    /// limit; the request is then not sent.
    fn over_rate(&self, request: &http::Request<WasiBody>) -> Option<http::Response<WasiBody>> {
        let host = request.uri().host()?;
        let over = self.policy.rates.take(host).err()?;
        let why = format!(
            "`{host}` is over its egress rate limit of {} (the `egress-rate` setting); the request was not sent",
            over.rate
        );
        let retry_after =
            over.retry_after.as_secs() + u64::from(over.retry_after.subsec_nanos() > 0);
        self.counters.refused.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(node = %self.node, host, "egress held back: {why}");
        self.log.push(
            LogLevel::Warn,
            LogSource::Host,
            format!("egress held back: {} {host}: {why}", request.method()),
        );
        let body =
            serde_json::json!({ "error": { "code": "egress_rate_limited", "message": why } });
        http::Response::builder()
            .status(http::StatusCode::TOO_MANY_REQUESTS)
            .header(http::header::RETRY_AFTER, retry_after.max(1))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(
                http_body_util::Full::new(Bytes::from(body.to_string()))
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            )
            .ok()
    }

    fn target(&self, request: &http::Request<WasiBody>) -> Result<Target, HttpError> {
        let uri = request.uri();
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::Http,
            Some("https") => Scheme::Https,
            _ => return Err(HttpError::HttpProtocolError),
        };
        let host = grant::normalise_host(uri.host().ok_or(HttpError::HttpRequestUriInvalid)?);
        let port = uri.port_u16().unwrap_or(match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        });
        let shown = format!("{}{}", grant::origin_text(scheme, &host, port), uri.path());
        Ok(Target {
            scheme,
            host,
            port,
            shown,
        })
    }

    /// Resolves the host and checks every address it resolves to.
    async fn resolve(
        &self,
        method: &http::Method,
        target: &Target,
        timeout: Duration,
    ) -> Result<Vec<SocketAddr>, HttpError> {
        let addrs: Vec<SocketAddr> = match target.host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, target.port)],
            Err(_) => {
                let lookup = tokio::net::lookup_host((target.host.as_str(), target.port));
                match tokio::time::timeout(timeout, lookup).await {
                    Err(_) => return Err(HttpError::DnsTimeout),
                    Ok(Err(e)) => {
                        return Err(HttpError::DnsError {
                            rcode: Some(e.to_string()),
                            info_code: None,
                        });
                    }
                    Ok(Ok(addrs)) => addrs.collect(),
                }
            }
        };
        if addrs.is_empty() {
            return Err(HttpError::DestinationNotFound);
        }
        let allow = &self.policy.config.allow_private;
        // One refused address refuses the name: a name that resolves to both
        // a public and a private address is a rebinding attempt.
        for addr in &addrs {
            let ip = addr.ip();
            if let Some(reason) = non_public_reason(ip)
                && !allow.allows(ip)
                && !allow.allows(ip.to_canonical())
            {
                let how = if target.host.parse::<IpAddr>().is_ok() {
                    format!("{ip} is a {reason} address")
                } else {
                    format!("`{}` resolves to {ip}, a {reason} address", target.host)
                };
                return Err(self.refuse(
                    method,
                    target,
                    &format!("{how}; an operator can allow it with N8N_WORK_EGRESS_ALLOW_PRIVATE"),
                    HttpError::DestinationIpProhibited,
                ));
            }
        }
        Ok(addrs)
    }

    async fn connect(
        &self,
        addrs: &[SocketAddr],
        timeout: Duration,
    ) -> Result<TcpStream, HttpError> {
        let attempt = async {
            let mut last = None;
            for addr in addrs {
                match TcpStream::connect(addr).await {
                    Ok(stream) => {
                        let _ = stream.set_nodelay(true);
                        return Ok(stream);
                    }
                    Err(e) => last = Some(e),
                }
            }
            Err(HttpError::Connect(last.expect("addrs is not empty")))
        };
        tokio::time::timeout(timeout, attempt)
            .await
            .map_err(|_| HttpError::ConnectionTimeout)?
    }

    fn refuse(
        &self,
        method: &http::Method,
        target: &Target,
        why: &str,
        code: HttpError,
    ) -> HttpError {
        self.counters.refused.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(node = %self.node, url = %target.shown, "egress refused: {why}");
        self.log.push(
            LogLevel::Warn,
            LogSource::Host,
            format!("egress refused: {method} {}: {why}", target.shown),
        );
        code
    }
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A response body that stops at the size cap, the request deadline and the
/// guest's between-bytes timeout, and counts what it lets through.
struct CappedBody {
    incoming: hyper::body::Incoming,
    remaining: u64,
    limit: u64,
    counters: Arc<EgressCounters>,
    deadline: Pin<Box<Sleep>>,
    between_bytes: Option<(Duration, Pin<Box<Sleep>>)>,
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(HttpError::HttpResponseTimeout)));
        }
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let len = data.len() as u64;
                    if len > this.remaining {
                        return Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(Some(
                            this.limit,
                        )))));
                    }
                    this.remaining -= len;
                    this.counters
                        .bytes_received
                        .fetch_add(len, Ordering::Relaxed);
                }
                if let Some((every, timer)) = &mut this.between_bytes {
                    timer.as_mut().reset(Instant::now() + *every);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) if e.is_timeout() => {
                Poll::Ready(Some(Err(HttpError::HttpResponseTimeout)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(HttpError::from(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if let Some((_, timer)) = &mut this.between_bytes {
                    ready!(timer.as_mut().poll(cx));
                    return Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}
