//! What the engine counts, for `/metrics`: steps by node type and outcome,
//! with their durations, and whether run changes reach this process
//! through Redis or it falls back to polling the store.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A step's node type and how its attempt ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StepLabels {
    pub(crate) node_type: String,
    pub(crate) outcome: String,
}

/// The engine's metrics; clones share the counts.
#[derive(Clone, Debug)]
pub struct EngineMetrics {
    pub(crate) steps: Family<StepLabels, Histogram>,
    redis_connected: Gauge,
    /// Whether this process is configured with Redis: without it the gauge
    /// would read as an outage.
    uses_redis: Arc<AtomicBool>,
}

impl Default for EngineMetrics {
    fn default() -> Self {
        EngineMetrics {
            // 100 µs to ~1.6 min.
            steps: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0001, 2.0, 20))
            }),
            redis_connected: Gauge::default(),
            uses_redis: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl EngineMetrics {
    /// Adds the engine's metrics to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "n8n_work_step_duration_seconds",
            "Step attempts by node type and outcome, and how long they ran",
            self.steps.clone(),
        );
        if self.uses_redis.load(Ordering::SeqCst) {
            registry.register(
                "n8n_work_redis_connected",
                "1 while run changes reach this process through Redis; 0 while Redis is unreachable and workers fall back to polling the store",
                self.redis_connected.clone(),
            );
        }
    }

    /// Marks this process as one that shares run changes through Redis, so
    /// `n8n_work_redis_connected` is reported; call before [`register`].
    ///
    /// [`register`]: EngineMetrics::register
    pub fn uses_redis(&self) {
        self.uses_redis.store(true, Ordering::SeqCst);
    }

    /// Whether the connection to Redis is up.
    pub fn set_redis_connected(&self, connected: bool) {
        self.redis_connected.set(i64::from(connected));
    }
}
