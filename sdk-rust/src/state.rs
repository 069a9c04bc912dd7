//! Small per-node state that outlives a run, for polling triggers (the last
//! seen id, a cursor). Writes land with the step's result.

use crate::{NodeError, host};

/// The value stored under `key`, if any.
pub fn get(key: &str) -> Option<Vec<u8>> {
    host::state_get(key)
}

/// Stores `value` under `key`.
pub fn set(key: &str, value: &[u8]) -> Result<(), NodeError> {
    host::state_set(key, value).map_err(|message| {
        NodeError::fatal(format!("cannot store state `{key}`: {message}")).with_code("state_error")
    })
}

/// Deletes `key`; deleting a missing key is not an error.
pub fn delete(key: &str) {
    host::state_delete(key);
}
