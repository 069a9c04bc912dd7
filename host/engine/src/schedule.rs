//! Schedule triggers: cron (with a timezone) or a fixed interval.
//!
//! Each tick's run has an id made from the trigger and the tick, and
//! starting a run whose id exists starts nothing; so a tick fires once even
//! when two processes, or a restart, try it twice. The last tick fired is
//! stored, so a restart knows which ticks it missed: `catchUp: skip` (the
//! default) drops them, `catchUp: once` runs the latest of them once.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use n8n_work_model::{ControlKind, NodeType, Workflow};
use n8n_work_runtime::Item;
use n8n_work_store::Millis;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::{Engine, EngineError};

/// A tick this late still fires under `catchUp: skip`: the scheduler may
/// wake a little after a tick on a busy machine.
const ON_TIME_MS: Millis = 10_000;

/// When a schedule fires.
#[derive(Clone, Debug)]
pub enum Every {
    /// A cron pattern (5 fields, or 6 with seconds) in a timezone.
    Cron(Box<croner::Cron>, chrono_tz::Tz),
    /// A fixed interval, in ticks aligned to the Unix epoch.
    Interval(Millis),
}

/// What to do with ticks missed while nothing ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CatchUp {
    /// Drop them.
    Skip,
    /// Run the latest of them once.
    Once,
}

/// A schedule trigger's parameters: `cron` and `timezone`, or `every`
/// (`30s`, `5m`, `1h`...), and `catchUp`.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// When.
    pub every: Every,
    /// Missed ticks.
    pub catch_up: CatchUp,
}

impl Schedule {
    /// Reads a schedule node's params; the error names the param and the fix.
    pub fn from_params(params: &Value) -> Result<Schedule, String> {
        let catch_up = match params.get("catchUp").and_then(Value::as_str) {
            None | Some("skip") => CatchUp::Skip,
            Some("once") => CatchUp::Once,
            Some(other) => {
                return Err(format!(
                    "catchUp `{other}`: use `skip` (drop missed ticks) or `once` (run the latest missed tick once)"
                ));
            }
        };
        let every = match (params.get("cron"), params.get("every")) {
            (Some(cron), None) => {
                let pattern = cron
                    .as_str()
                    .ok_or("cron: give a pattern as a string, e.g. \"0 9 * * 1-5\"")?;
                let parsed = croner::Cron::from_str(pattern).map_err(|e| {
                    format!("cron `{pattern}`: {e}; use 5 fields (minute hour day month weekday) or 6 with seconds first")
                })?;
                let zone = match params.get("timezone").and_then(Value::as_str) {
                    None => chrono_tz::UTC,
                    Some(name) => name.parse().map_err(|_| {
                        format!(
                            "timezone `{name}`: use an IANA name such as `Europe/Berlin` or `UTC`"
                        )
                    })?,
                };
                Every::Cron(Box::new(parsed), zone)
            }
            (None, Some(every)) => {
                let text = every
                    .as_str()
                    .ok_or("every: give a duration as a string, e.g. \"30s\" or \"5m\"")?;
                let interval = humantime::parse_duration(text).map_err(|e| {
                    format!("every `{text}`: {e}; write e.g. \"30s\", \"5m\" or \"1h\"")
                })?;
                let ms = Millis::try_from(interval.as_millis()).unwrap_or(Millis::MAX);
                if ms < 1000 {
                    return Err(format!("every `{text}`: the shortest interval is 1s"));
                }
                Every::Interval(ms)
            }
            (Some(_), Some(_)) => {
                return Err("give either `cron` or `every`, not both".into());
            }
            (None, None) => {
                return Err(
                    "give `cron` (e.g. \"0 9 * * 1-5\", with `timezone`) or `every` (e.g. \"5m\")"
                        .into(),
                );
            }
        };
        Ok(Schedule { every, catch_up })
    }

    /// The first tick strictly after `after`.
    pub fn next_after(&self, after: Millis) -> Option<Millis> {
        match &self.every {
            Every::Interval(ms) => Some((after.div_euclid(*ms) + 1) * ms),
            Every::Cron(cron, zone) => {
                let at = zone.from_utc_datetime(&datetime(after)?.naive_utc());
                cron.find_next_occurrence(&at, false)
                    .ok()
                    .map(|t| t.timestamp_millis())
            }
        }
    }

    /// The latest tick at or before `at`.
    pub fn latest_at(&self, at: Millis) -> Option<Millis> {
        match &self.every {
            Every::Interval(ms) => Some(at.div_euclid(*ms) * ms),
            Every::Cron(cron, zone) => {
                let at = zone.from_utc_datetime(&datetime(at)?.naive_utc());
                cron.find_previous_occurrence(&at, true)
                    .ok()
                    .map(|t| t.timestamp_millis())
            }
        }
    }

    /// Which ticks to fire at `now`, given the last one fired, oldest
    /// first: every tick still on time (so a scheduler that wakes late
    /// loses none), or, when none is and ticks were missed, the latest
    /// missed one under `catchUp: once`.
    pub fn due(&self, last: Millis, now: Millis) -> Vec<Millis> {
        let mut ticks = Vec::new();
        let Some(first) = self.next_after(last) else {
            return ticks;
        };
        if first > now {
            return ticks;
        }
        // Only the on-time window is walked, however long ago `last` was.
        let mut next = if now - first > ON_TIME_MS {
            self.next_after(last.max(now - ON_TIME_MS - 1))
        } else {
            Some(first)
        };
        while let Some(tick) = next.filter(|t| *t <= now) {
            ticks.push(tick);
            next = self.next_after(tick);
        }
        let missed = first < now - ON_TIME_MS;
        if ticks.is_empty()
            && missed
            && self.catch_up == CatchUp::Once
            && let Some(latest) = self.latest_at(now)
        {
            ticks.push(latest);
        }
        ticks
    }
}

fn datetime(ms: Millis) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_millis(ms)
}

/// The run id of a tick: a UUID v7 at the tick's time (so lists order it
/// with other runs), its other bits from the trigger and the tick.
fn tick_id(tenant: &str, workflow_id: &str, node_id: &str, tick: Millis) -> String {
    let digest = Sha256::digest(format!("{tenant}\0{workflow_id}\0{node_id}\0{tick}"));
    let mut bits = [0u8; 10];
    bits.copy_from_slice(&digest[..10]);
    uuid::Builder::from_unix_timestamp_millis(tick.max(0) as u64, &bits)
        .into_uuid()
        .to_string()
}

/// A schedule trigger of an active workflow version.
struct Armed {
    tenant: String,
    workflow_id: String,
    version: i64,
    node_id: String,
    schedule: Schedule,
}

impl Engine {
    /// The schedule triggers of the active workflows. A trigger whose
    /// params do not parse is logged and left out (validation refuses such
    /// workflows; this guards rows written by older versions).
    async fn armed(&self) -> Result<Vec<Armed>, EngineError> {
        let store = self.store();
        let mut armed = Vec::new();
        for (tenant, workflow_id, version) in store.active_workflows().await? {
            let stored = store
                .workflow_version(&tenant, &workflow_id, version)
                .await?;
            let Ok(workflow) = Workflow::from_value(stored.definition) else {
                continue;
            };
            for node in &workflow.nodes {
                if node.node_type != NodeType::Control(ControlKind::Schedule) {
                    continue;
                }
                match Schedule::from_params(&node.params) {
                    Ok(schedule) => armed.push(Armed {
                        tenant: tenant.clone(),
                        workflow_id: workflow_id.clone(),
                        version,
                        node_id: node.id.clone(),
                        schedule,
                    }),
                    Err(e) => {
                        tracing::warn!(workflow = %workflow_id, node = %node.id, error = %e, "schedule ignored")
                    }
                }
            }
        }
        Ok(armed)
    }

    /// Fires every schedule tick that is due now; returns the runs started
    /// and when the next tick is due. A trigger seen for the first time
    /// starts counting from now.
    pub async fn fire_schedules(&self) -> Result<(Vec<String>, Option<Millis>), EngineError> {
        let store = self.store();
        let now = self.inner.clock.now();
        let mut started = Vec::new();
        let mut next_due: Option<Millis> = None;
        for armed in self.armed().await? {
            let Armed {
                tenant,
                workflow_id,
                version,
                node_id,
                schedule,
            } = &armed;
            let last = match store.last_tick(tenant, workflow_id, node_id).await? {
                Some(last) => last,
                None => {
                    store
                        .set_last_tick(tenant, workflow_id, node_id, now)
                        .await?;
                    now
                }
            };
            let mut fired = last;
            for tick in schedule.due(last, now) {
                let item = json!({
                    "timestamp": datetime(tick).map(|t| t.to_rfc3339()),
                    "tick": tick,
                    "firedAt": now,
                });
                let items = Item::list_from_value(item).map_err(EngineError::Corrupt)?;
                let stored = store
                    .workflow_version(tenant, workflow_id, *version)
                    .await?;
                let id = tick_id(tenant, workflow_id, node_id, tick);
                started.push(
                    self.start_at(tenant, &stored, node_id, items, Some(id))
                        .await?,
                );
                fired = tick;
            }
            // Missed ticks that are not caught up are passed over too.
            let passed = schedule.latest_at(now).unwrap_or(fired).max(fired);
            store
                .set_last_tick(tenant, workflow_id, node_id, passed)
                .await?;
            if let Some(next) = schedule.next_after(passed) {
                next_due = Some(next_due.map_or(next, |d| d.min(next)));
            }
        }
        Ok((started, next_due))
    }

    /// Fires schedule ticks as they come due, until `shutdown`. Activation
    /// changes are seen within `recheck`.
    pub async fn run_schedules(
        &self,
        shutdown: CancellationToken,
        recheck: Duration,
    ) -> Result<(), EngineError> {
        loop {
            let wait = match self.fire_schedules().await {
                Ok((_, Some(next))) => {
                    let left = (next - self.inner.clock.now()).max(0) as u64;
                    Duration::from_millis(left).min(recheck)
                }
                Ok((_, None)) => recheck,
                Err(e) => {
                    tracing::warn!(error = %e, "schedules could not fire; trying again");
                    // Soon: a tick missed for long is no longer on time.
                    recheck.min(Duration::from_secs(1))
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.inner.schedules_changed.notified() => {}
                _ = shutdown.cancelled() => return Ok(()),
            }
        }
    }

    /// Tells the schedule loop, and through [`Engine::activations`] the
    /// other processes, that activations changed.
    pub fn schedules_changed(&self) {
        self.inner.schedules_changed.notify_one();
        let _ = self.inner.activations.send(self.owner().to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(params: &Value) -> Schedule {
        Schedule::from_params(params).unwrap()
    }

    #[test]
    fn interval_ticks_align_to_the_epoch() {
        let s = schedule(&json!({ "every": "5m" }));
        assert_eq!(s.next_after(299_999), Some(300_000));
        assert_eq!(s.next_after(300_000), Some(600_000));
        assert_eq!(s.latest_at(599_999), Some(300_000));
    }

    #[test]
    fn cron_honours_the_timezone() {
        // 09:00 in Berlin is 08:00 UTC in winter.
        let s = schedule(&json!({ "cron": "0 9 * * *", "timezone": "Europe/Berlin" }));
        let jan1 = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .unwrap()
            .timestamp_millis();
        let expected = Utc
            .with_ymd_and_hms(2026, 1, 1, 8, 0, 0)
            .unwrap()
            .timestamp_millis();
        assert_eq!(s.next_after(jan1), Some(expected));
    }

    #[test]
    fn missed_ticks_are_skipped_or_caught_up_once() {
        let skip = schedule(&json!({ "every": "1h" }));
        let once = schedule(&json!({ "every": "1h", "catchUp": "once" }));
        let hour = 3_600_000;
        // Down from just after 00:00 until 03:00:30: ticks 1h, 2h, 3h missed.
        let now = 3 * hour + 30_000;
        assert_eq!(
            skip.due(0, now),
            Vec::<Millis>::new(),
            "skip drops missed ticks"
        );
        assert_eq!(once.due(0, now), vec![3 * hour], "once runs the latest");
        // A tick a few seconds late is on time either way.
        assert_eq!(skip.due(2 * hour, 3 * hour + 2_000), vec![3 * hour]);
        assert_eq!(once.due(2 * hour, 3 * hour + 2_000), vec![3 * hour]);
        // Nothing due before the next tick.
        assert_eq!(skip.due(3 * hour, 4 * hour - 1), Vec::<Millis>::new());
    }

    #[test]
    fn a_late_scheduler_fires_every_tick_still_on_time() {
        let s = schedule(&json!({ "every": "1s" }));
        // Woken 2.1 s after the last tick: both ticks since are on time.
        assert_eq!(s.due(1_000, 3_100), vec![2_000, 3_000]);
        // Down for an hour: only the ticks of the last ten seconds fire.
        let now = 3_600_000 + 500;
        let due = s.due(0, now);
        assert_eq!(due.first(), Some(&(now - 500 - ON_TIME_MS + 1_000)));
        assert_eq!(due.last(), Some(&3_600_000));
        assert_eq!(due.len(), 10);
    }

    #[test]
    fn tick_ids_are_stable_and_distinct() {
        let a = tick_id("t", "w", "n", 60_000);
        assert_eq!(a, tick_id("t", "w", "n", 60_000));
        assert_ne!(a, tick_id("t", "w", "n", 120_000));
        assert_ne!(a, tick_id("t", "w2", "n", 60_000));
        assert!(a < tick_id("t", "w", "n", 120_000), "ids order by tick");
    }

    #[test]
    fn bad_params_name_the_fix() {
        let err = |v: Value| Schedule::from_params(&v).unwrap_err();
        assert!(err(json!({ "cron": "61 * * * *" })).contains("cron `61 * * * *`"));
        assert!(err(json!({ "cron": "* * * * *", "timezone": "Mars/Base" })).contains("IANA"));
        assert!(err(json!({ "every": "soon" })).contains("every `soon`"));
        assert!(err(json!({})).contains("give `cron`"));
        assert!(err(json!({ "every": "1m", "catchUp": "all" })).contains("catchUp `all`"));
    }
}
