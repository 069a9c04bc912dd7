//! The writes that change runs, each run inside the writer's
//! transaction, by topic. SQL built at run time here is built from
//! constants only (column names, ORDER BY direction, placeholder lists);
//! values, statuses and kinds included, are always bound.

mod queue;
mod retention;
mod runs;
mod versions;

use serde_json::Value;
use sqlx::AnyConnection;

use crate::{Result, StoreError};

pub use queue::append_items;
pub(crate) use queue::{Scope, claim, complete};
pub(crate) use retention::prune;
pub(crate) use runs::{cancel, replay, resume, start_execution};
pub(crate) use versions::put_workflow;

/// The connection a write runs on (inside the batch's transaction).
pub(crate) type Conn = AnyConnection;

/// A JSON value as the text column holds it.
pub(crate) fn text(value: &Value) -> String {
    value.to_string()
}

/// A nullable JSON text column's value.
pub(crate) fn parse_opt(text: Option<String>) -> Result<Option<Value>> {
    text.map(|t| serde_json::from_str(&t))
        .transpose()
        .map_err(StoreError::from)
}

/// A JSON text column's value.
pub(crate) fn parse(text: &str) -> Result<Value> {
    Ok(serde_json::from_str(text)?)
}

/// `$first, $first+1, …`: `n` placeholders for an `IN` list.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
