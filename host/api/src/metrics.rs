//! `/metrics` in Prometheus' text format: HTTP requests by route and status
//! with their latency, the queue's depth and age, and the engine's steps
//! by node type.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::{ApiResult, AppState};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

/// The server's metrics.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<HttpLabels, Histogram>,
    in_flight: Gauge,
    queue_depth: Gauge,
    queue_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    webhooks_admitted: Gauge,
}

impl Metrics {
    pub(crate) fn new(engine: &n8n_work_engine::Engine) -> Arc<Metrics> {
        let mut registry = Registry::default();
        let requests = Family::<HttpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 18))
        });
        let in_flight = Gauge::default();
        let queue_depth = Gauge::default();
        let queue_age = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        let webhooks_admitted = Gauge::default();
        registry.register(
            "n8n_work_http_request_duration_seconds",
            "HTTP requests by method, route and status, and how long they took",
            requests.clone(),
        );
        registry.register(
            "n8n_work_http_in_flight",
            "HTTP requests being served",
            in_flight.clone(),
        );
        registry.register(
            "n8n_work_queue_depth",
            "Steps due now and not yet claimed",
            queue_depth.clone(),
        );
        registry.register(
            "n8n_work_queue_age_seconds",
            "How long the oldest due step has waited",
            queue_age.clone(),
        );
        registry.register(
            "n8n_work_webhook_admitted",
            "Webhook requests, and the runs they started that are at work (not parked), holding a place in --max-in-flight",
            webhooks_admitted.clone(),
        );
        engine.metrics().register(&mut registry);
        Arc::new(Metrics {
            registry,
            requests,
            in_flight,
            queue_depth,
            queue_age,
            webhooks_admitted,
        })
    }
}

/// Times every request, labelled by its route pattern (not its path, which
/// would make a series per id).
pub(crate) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let began = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let metrics = state.metrics.clone();
    metrics.in_flight.inc();
    let response = next.run(request).await;
    metrics.in_flight.dec();
    metrics
        .requests
        .get_or_create(&HttpLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .observe(began.elapsed().as_secs_f64());
    response
}

/// `GET /metrics`.
pub(crate) async fn render(State(state): State<AppState>) -> ApiResult<Response> {
    let now = n8n_work_store::now_millis();
    let (depth, oldest) = state.engine.store().queue_depth(now).await?;
    state.metrics.queue_depth.set(depth);
    state
        .metrics
        .queue_age
        .set(oldest.map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0));
    state
        .metrics
        .webhooks_admitted
        .set(i64::try_from(state.hooks.admitted()).unwrap_or(i64::MAX));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &state.metrics.registry).map_err(|e| {
        crate::ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            e.to_string(),
        )
    })?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
