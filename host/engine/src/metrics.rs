//! What the engine counts, for `/metrics`: steps by node type and outcome,
//! with their durations.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
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
}

impl Default for EngineMetrics {
    fn default() -> Self {
        EngineMetrics {
            // 100 µs to ~1.6 min.
            steps: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0001, 2.0, 20))
            }),
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
    }
}
