//! Per-step limits: fuel, memory, output size, wall-clock deadline.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What one step may use. Every field has a default sized for integration
/// nodes; workflows and operators lower or raise them per node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct StepLimits {
    /// WebAssembly fuel: roughly one unit per instruction executed.
    pub fuel: u64,
    /// Linear memory across all of the instance's memories, in bytes.
    pub memory_bytes: usize,
    /// The JSON of all output items together, in bytes.
    pub output_bytes: usize,
    /// Binary data the step may write, in bytes.
    pub binary_bytes: usize,
    /// Log lines kept, in bytes.
    pub log_bytes: usize,
    /// Wall-clock time for the whole step, host calls included.
    #[serde(with = "millis")]
    pub timeout: Duration,
}

impl Default for StepLimits {
    fn default() -> Self {
        StepLimits {
            fuel: 2_000_000_000,
            memory_bytes: 128 * 1024 * 1024,
            output_bytes: 16 * 1024 * 1024,
            binary_bytes: 64 * 1024 * 1024,
            log_bytes: 256 * 1024,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Durations as whole milliseconds in JSON.
pub(crate) mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// Which limit a step ran into, with the figure it was held to.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(
    tag = "which",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum LimitExceeded {
    /// The step ran out of fuel.
    #[error(
        "fuel limit of {limit} exhausted; raise `limits.fuel` if the node needs more work per step"
    )]
    Fuel {
        /// The fuel the step was given.
        limit: u64,
    },
    /// The step asked for more memory than allowed.
    #[error("memory limit of {} MiB reached (asked for {} MiB); raise `limits.memoryBytes` or send fewer items per step", limit_bytes / (1024 * 1024), requested_bytes / (1024 * 1024))]
    Memory {
        /// The cap, in bytes.
        limit_bytes: usize,
        /// The total the step asked for, in bytes.
        requested_bytes: usize,
    },
    /// The step's output items were too large.
    #[error(
        "output of {actual_bytes} bytes is over the {limit_bytes}-byte limit; raise `limits.outputBytes` or move large data to binary"
    )]
    Output {
        /// The cap, in bytes.
        limit_bytes: usize,
        /// The size of the output, in bytes.
        actual_bytes: usize,
    },
    /// The step wrote more binary data than allowed.
    #[error("binary data over the {limit_bytes}-byte limit; raise `limits.binaryBytes`")]
    Binary {
        /// The cap, in bytes.
        limit_bytes: usize,
    },
    /// The step did not finish in time.
    #[error(
        "deadline of {} ms passed; raise the node's `timeout` if it needs longer",
        timeout_ms
    )]
    Deadline {
        /// The step's timeout in milliseconds.
        timeout_ms: u64,
    },
}

/// Tracks and caps the memory and tables of one step's instance.
#[derive(Debug)]
pub(crate) struct StepLimiter {
    memory_cap: usize,
    memory_total: usize,
    memory_peak: usize,
}

/// Enough table elements for any sane component; a guard against table bombs.
const TABLE_ELEMENTS_CAP: usize = 1 << 20;

impl StepLimiter {
    pub(crate) fn new(memory_cap: usize) -> Self {
        StepLimiter {
            memory_cap,
            memory_total: 0,
            memory_peak: 0,
        }
    }

    /// The most linear memory the instance held at once, in bytes.
    pub(crate) fn peak(&self) -> usize {
        self.memory_peak
    }
}

impl wasmtime::ResourceLimiter for StepLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.memory_total - current.min(self.memory_total) + desired;
        if total > self.memory_cap {
            // Trap rather than fail the grow: a guest's allocator would abort
            // anyway, and this way the error names the limit.
            return Err(wasmtime::Error::new(LimitExceeded::Memory {
                limit_bytes: self.memory_cap,
                requested_bytes: total,
            }));
        }
        self.memory_total = total;
        self.memory_peak = self.memory_peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= TABLE_ELEMENTS_CAP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn memory_is_summed_across_memories_and_peak_is_kept() {
        let mut limiter = StepLimiter::new(100);
        assert!(limiter.memory_growing(0, 40, None).unwrap());
        assert!(limiter.memory_growing(0, 50, None).unwrap());
        assert!(limiter.memory_growing(40, 50, None).unwrap());
        assert_eq!(limiter.peak(), 100);
        let err = limiter.memory_growing(50, 60, None).unwrap_err();
        let limit = err.downcast_ref::<LimitExceeded>().unwrap();
        assert_eq!(
            *limit,
            LimitExceeded::Memory {
                limit_bytes: 100,
                requested_bytes: 110
            }
        );
    }

    #[test]
    fn limits_read_from_json_with_defaults_and_reject_unknown_keys() {
        let limits: StepLimits = serde_json::from_str(r#"{"fuel": 5, "timeout": 1500}"#).unwrap();
        assert_eq!(limits.fuel, 5);
        assert_eq!(limits.timeout, Duration::from_millis(1500));
        assert_eq!(limits.memory_bytes, StepLimits::default().memory_bytes);
        let err = serde_json::from_str::<StepLimits>(r#"{"fule": 5}"#).unwrap_err();
        assert!(err.to_string().contains("fule"), "{err}");
    }
}
