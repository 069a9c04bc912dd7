//! Polling: a node that a schedule runs again and again (an RSS feed, a
//! list API) emits only the items it has not emitted before. It remembers
//! the keys of what it emitted in its [`state`](crate::state), which the
//! host commits with the step's result: a step that fails or is retried
//! leaves the memory as it was, so every item goes on once.
//!
//! ```no_run
//! use n8n_work_sdk::{Item, NodeError, poll};
//!
//! fn fresh(fetched: Vec<Item>) -> Result<Vec<Item>, NodeError> {
//!     // Keyed by each item's `id`; the last 1,000 keys are remembered.
//!     poll::new_items(fetched, |item| poll::key_at(item, "id"), 1_000)
//! }
//! ```

use std::collections::{HashSet, VecDeque};

use serde_json::Value;

use crate::{Item, NodeError, state};

/// The state key under which the keys already emitted are kept.
pub const SEEN_KEY: &str = "poll.seen";

/// The most keys one node remembers: the state value holding them stays
/// under the host's 64 KiB per value.
pub const MAX_REMEMBERED: usize = 5_000;

/// The state value's size bound, with room to spare under the host's.
const MAX_SEEN_BYTES: usize = 60 * 1024;

/// The items of `items` whose key (by `key`) this node has not emitted in
/// an earlier step, in their order; the keys of those it emits are
/// remembered (the latest `remember` of all, at most [`MAX_REMEMBERED`]).
/// The first poll emits everything it gets.
pub fn new_items(
    items: Vec<Item>,
    key: impl Fn(&Item) -> Result<String, NodeError>,
    remember: usize,
) -> Result<Vec<Item>, NodeError> {
    let seen = state::get(SEEN_KEY)
        .map(|bytes| decode(&bytes))
        .transpose()?
        .unwrap_or_default();
    let keys = items.iter().map(&key).collect::<Result<Vec<_>, _>>()?;
    let (fresh, seen) = select(seen, items, keys, remember.clamp(1, MAX_REMEMBERED));
    state::set(SEEN_KEY, &encode(&seen))?;
    Ok(fresh)
}

/// The value at dotted `path` of an item's JSON (`id`, `meta.guid`) as a
/// key: a string as it is, any other value as JSON text.
pub fn key_at(item: &Item, path: &str) -> Result<String, NodeError> {
    let mut value = &Value::Object(item.json.clone());
    for part in path.split('.') {
        value = value.get(part).unwrap_or(&Value::Null);
    }
    match value {
        Value::Null => Err(NodeError::fatal(format!(
            "an item has no `{path}` to tell it from the others by; name a field every item has"
        ))
        .with_code("parameters")),
        Value::String(text) => Ok(text.clone()),
        other => Ok(other.to_string()),
    }
}

/// Which of `items` (with their `keys`) are new against `seen`, and what is
/// remembered afterwards: the keys seen before and the new ones, oldest
/// first, the latest `remember` (and no more than fits in a state value).
fn select(
    seen: VecDeque<String>,
    items: Vec<Item>,
    keys: Vec<String>,
    remember: usize,
) -> (Vec<Item>, VecDeque<String>) {
    let mut known: HashSet<String> = seen.iter().cloned().collect();
    let mut seen = seen;
    let mut fresh = Vec::new();
    for (item, key) in items.into_iter().zip(keys) {
        if known.insert(key.clone()) {
            seen.push_back(key);
            fresh.push(item);
        }
    }
    while seen.len() > remember || encoded_len(&seen) > MAX_SEEN_BYTES {
        seen.pop_front();
    }
    (fresh, seen)
}

fn encoded_len(seen: &VecDeque<String>) -> usize {
    // `["a","b"]`: each key quoted, commas and brackets; escapes make it
    // longer, so measure the real text when close.
    let rough: usize = seen.iter().map(|k| k.len() + 3).sum::<usize>() + 2;
    if rough * 2 < MAX_SEEN_BYTES {
        rough
    } else {
        encode(seen).len()
    }
}

fn encode(seen: &VecDeque<String>) -> Vec<u8> {
    serde_json::to_vec(seen).unwrap_or_default()
}

fn decode(bytes: &[u8]) -> Result<VecDeque<String>, NodeError> {
    serde_json::from_slice(bytes).map_err(|e| {
        NodeError::fatal(format!(
            "the node's state `{SEEN_KEY}` is not a list of keys ({e}); delete it to start afresh"
        ))
        .with_code("state_error")
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn items(ids: &[u64]) -> (Vec<Item>, Vec<String>) {
        let items: Vec<Item> = ids
            .iter()
            .map(|id| Item::new(json!({ "id": id })))
            .collect();
        let keys = items.iter().map(|i| key_at(i, "id").unwrap()).collect();
        (items, keys)
    }

    fn ids(items: &[Item]) -> Vec<u64> {
        items
            .iter()
            .map(|i| i.json["id"].as_u64().unwrap())
            .collect()
    }

    #[test]
    fn only_items_not_seen_before_go_on_and_are_remembered() {
        let (first, keys) = items(&[1, 2]);
        let (fresh, seen) = select(VecDeque::new(), first, keys, 10);
        assert_eq!(ids(&fresh), vec![1, 2]);
        let (grown, keys) = items(&[3, 1, 2, 3]);
        let (fresh, seen) = select(seen, grown, keys, 10);
        assert_eq!(
            ids(&fresh),
            vec![3],
            "seen ones and a repeat in one poll are left out"
        );
        assert_eq!(
            seen,
            VecDeque::from(["1".to_owned(), "2".into(), "3".into()])
        );
    }

    #[test]
    fn the_oldest_keys_are_forgotten_past_the_limit() {
        let (all, keys) = items(&[1, 2, 3, 4]);
        let (_, seen) = select(VecDeque::new(), all, keys, 3);
        assert_eq!(
            seen,
            VecDeque::from(["2".to_owned(), "3".into(), "4".into()])
        );
        let long: VecDeque<String> = (0..MAX_REMEMBERED).map(|i| format!("{i:0>40}")).collect();
        let (_, kept) = select(long, vec![], vec![], MAX_REMEMBERED);
        assert!(
            encode(&kept).len() <= MAX_SEEN_BYTES,
            "{}",
            encode(&kept).len()
        );
        assert_eq!(
            kept.back().unwrap(),
            &format!("{:0>40}", MAX_REMEMBERED - 1)
        );
    }

    #[test]
    fn keys_are_read_at_a_dotted_path_and_a_missing_one_is_named() {
        let item = Item::new(json!({ "meta": { "guid": "a-1" }, "n": 7 }));
        assert_eq!(key_at(&item, "meta.guid").unwrap(), "a-1");
        assert_eq!(key_at(&item, "n").unwrap(), "7");
        let error = key_at(&item, "id").unwrap_err();
        assert!(error.message.contains("`id`"), "{}", error.message);
    }
}
