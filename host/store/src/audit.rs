//! The audit log's chain: each entry carries an HMAC over its fields and the
//! previous entry's HMAC, under a key kept outside the database, and the
//! chain's head is checkpointed outside the database too. [`verify`] then
//! finds an edited, deleted, reordered or truncated entry, and a chain
//! recomputed from some point on (it no longer meets the checkpoint).
//!
//! [`Store::append_audit`] adds an entry (the chain's next place, sealed in
//! the same transaction that reads the place before), and
//! [`Store::audit_entries`] reads them back in order.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::Row;

/// One change, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    /// Its place in the chain, from 1 with no gaps.
    pub seq: i64,
    /// When, in milliseconds since the Unix epoch.
    pub at: i64,
    /// The tenant it happened in.
    pub tenant: String,
    /// Who: the key id.
    pub actor: String,
    /// What: `workflow.write`, `key.write`...
    pub action: String,
    /// On what: `workflow:<id>`, `key:<id>`...
    pub target: String,
    /// From where: the client's address.
    pub source: String,
    /// The SHA-256 of the state before, if there was one.
    pub before: Option<String>,
    /// The SHA-256 of the state after, if there is one.
    pub after: Option<String>,
    /// The HMAC that chains it to the entry before.
    pub mac: String,
}

/// The chain's last entry, as checkpointed outside the database, sealed
/// with the audit key so that whoever can write the file but has not the
/// key cannot move it back to cover a truncation.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    /// The last entry's place.
    pub seq: i64,
    /// Its HMAC.
    pub mac: String,
    /// The HMAC of the two above ([`AuditKey::checkpoint`]); empty in a
    /// checkpoint written before checkpoints were sealed.
    #[serde(default)]
    pub seal: String,
}

/// The HMAC key, 32 bytes from outside the database.
pub struct AuditKey([u8; 32]);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

impl AuditKey {
    /// The key of these bytes.
    pub fn new(bytes: [u8; 32]) -> AuditKey {
        AuditKey(bytes)
    }

    /// The HMAC of `entry` (all but its own `mac`) after `previous` (the
    /// entry before's HMAC, empty for the first).
    pub fn seal(&self, previous: &str, entry: &AuditEntry) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key size");
        // A JSON array: every field delimited, so none can run into the next.
        let fields = json!([
            previous,
            entry.seq,
            entry.at,
            entry.tenant,
            entry.actor,
            entry.action,
            entry.target,
            entry.source,
            entry.before,
            entry.after
        ]);
        mac.update(fields.to_string().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

impl AuditKey {
    /// The checkpoint of `entry`, sealed.
    pub fn checkpoint(&self, entry: &AuditEntry) -> Checkpoint {
        Checkpoint {
            seq: entry.seq,
            mac: entry.mac.clone(),
            seal: self.checkpoint_seal(entry.seq, &entry.mac),
        }
    }

    fn checkpoint_seal(&self, seq: i64, mac: &str) -> String {
        let mut hmac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key size");
        // Labelled, so a checkpoint's seal is never an entry's HMAC.
        hmac.update(json!(["checkpoint", seq, mac]).to_string().as_bytes());
        hex::encode(hmac.finalize().into_bytes())
    }
}

/// The SHA-256 of a state (a workflow definition, a key's metadata...), as
/// entries record it: its JSON text, keys in the order the state has them.
pub fn state_hash(state: &Value) -> String {
    hex::encode(Sha256::digest(state.to_string().as_bytes()))
}

/// Where the chain breaks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// An entry's HMAC does not match its fields and the entry before: it
    /// was edited, or an entry before it was removed or moved.
    #[error(
        "entry {seq} does not match its HMAC: it was edited, or entries before it were removed or reordered"
    )]
    Tampered {
        /// The first entry that fails.
        seq: i64,
    },
    /// The places skip or repeat.
    #[error("entry {found} follows entry {previous}: entries were deleted or reordered")]
    Gap {
        /// The place before.
        previous: i64,
        /// The place found.
        found: i64,
    },
    /// The chain ends before the checkpoint.
    #[error(
        "the log ends at entry {last} but the checkpoint outside the database is at entry {checkpoint}: the tail was truncated"
    )]
    Truncated {
        /// The last entry in the database.
        last: i64,
        /// The checkpointed head.
        checkpoint: i64,
    },
    /// There are entries but no checkpoint: it was deleted, or never
    /// written where the verifier looks.
    #[error(
        "the log has {last} entries but the checkpoint outside the database is missing: it was deleted, or it is elsewhere (N8N_WORK_AUDIT_HEAD_FILE); without it a truncated tail cannot be told"
    )]
    MissingCheckpoint {
        /// The last entry in the database.
        last: i64,
    },
    /// The checkpoint's seal does not match: it was written by someone
    /// without the audit key, or under another key.
    #[error(
        "the checkpoint outside the database (at entry {seq}) is not sealed with the audit key: it was rewritten, or comes from another key or an older n8n-work (the server reseals it at its next audited change)"
    )]
    ForgedCheckpoint {
        /// The place it names.
        seq: i64,
    },
    /// The entry at the checkpoint has another HMAC: the chain was
    /// recomputed.
    #[error(
        "entry {seq} differs from the checkpoint outside the database: the chain was rewritten"
    )]
    Rewritten {
        /// The checkpointed place.
        seq: i64,
    },
}

/// Checks a whole chain, in order, against `key` and the checkpoint (which
/// must be there, sealed with `key`, unless the log is empty); the number of
/// entries on success.
pub fn verify(
    key: &AuditKey,
    entries: impl IntoIterator<Item = AuditEntry>,
    checkpoint: Option<&Checkpoint>,
) -> Result<i64, ChainBreak> {
    if let Some(checkpoint) = checkpoint
        && key.checkpoint_seal(checkpoint.seq, &checkpoint.mac) != checkpoint.seal
    {
        return Err(ChainBreak::ForgedCheckpoint {
            seq: checkpoint.seq,
        });
    }
    let mut previous_mac = String::new();
    let mut last = 0;
    for entry in entries {
        if entry.seq != last + 1 {
            return Err(ChainBreak::Gap {
                previous: last,
                found: entry.seq,
            });
        }
        if key.seal(&previous_mac, &entry) != entry.mac {
            return Err(ChainBreak::Tampered { seq: entry.seq });
        }
        if let Some(checkpoint) = checkpoint
            && checkpoint.seq == entry.seq
            && checkpoint.mac != entry.mac
        {
            return Err(ChainBreak::Rewritten { seq: entry.seq });
        }
        last = entry.seq;
        previous_mac = entry.mac;
    }
    match checkpoint {
        None if last > 0 => return Err(ChainBreak::MissingCheckpoint { last }),
        Some(checkpoint) if checkpoint.seq > last => {
            return Err(ChainBreak::Truncated {
                last,
                checkpoint: checkpoint.seq,
            });
        }
        _ => {}
    }
    Ok(last)
}

impl crate::Store {
    /// Appends `entry` (its `seq` and `mac` are filled in here) to the
    /// chain; the entry as stored.
    pub async fn append_audit(
        &self,
        entry: AuditEntry,
        key: Arc<AuditKey>,
    ) -> crate::Result<AuditEntry> {
        // Two processes on one PostgreSQL may take the same place; the
        // primary key turns one away, and it tries the next place.
        let mut attempts = 0;
        loop {
            let (entry, key) = (entry.clone(), key.clone());
            let appended = self
                .writer
                .write(move |conn| {
                    Box::pin(async move {
                        let last = sqlx::query("SELECT seq, mac FROM audit_log ORDER BY seq DESC LIMIT 1")
                            .fetch_optional(&mut *conn)
                            .await?;
                        let (seq, previous): (i64, String) = match last {
                            Some(row) => (row.try_get::<i64, _>("seq")? + 1, row.try_get("mac")?),
                            None => (1, String::new()),
                        };
                        let mut entry = AuditEntry { seq, ..entry };
                        entry.mac = key.seal(&previous, &entry);
                        sqlx::query(
                            "INSERT INTO audit_log (seq, at, tenant_id, actor, action, target, source, before_hash, after_hash, mac) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                        )
                        .bind(entry.seq)
                        .bind(entry.at)
                        .bind(&entry.tenant)
                        .bind(&entry.actor)
                        .bind(&entry.action)
                        .bind(&entry.target)
                        .bind(&entry.source)
                        .bind(&entry.before)
                        .bind(&entry.after)
                        .bind(&entry.mac)
                        .execute(&mut *conn)
                        .await?;
                        Ok(entry)
                    })
                })
                .await;
            match appended {
                Err(crate::StoreError::Database(e)) if attempts < 8 && is_unique_violation(&e) => {
                    attempts += 1;
                }
                other => return other,
            }
        }
    }

    /// Entries after place `after`, in order, at most `limit`; of one tenant,
    /// or of all (`None`, for verification).
    pub async fn audit_entries(
        &self,
        tenant: Option<&str>,
        after: i64,
        limit: i64,
    ) -> crate::Result<Vec<AuditEntry>> {
        sqlx::query(
            "SELECT seq, at, tenant_id, actor, action, target, source, before_hash, after_hash, mac \
             FROM audit_log WHERE ($1 = '' OR tenant_id = $1) AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(tenant.unwrap_or_default())
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| {
            Ok(AuditEntry {
                seq: row.try_get("seq")?,
                at: row.try_get("at")?,
                tenant: row.try_get("tenant_id")?,
                actor: row.try_get("actor")?,
                action: row.try_get("action")?,
                target: row.try_get("target")?,
                source: row.try_get("source")?,
                before: row.try_get("before_hash")?,
                after: row.try_get("after_hash")?,
                mac: row.try_get("mac")?,
            })
        })
        .collect()
    }

    /// Whether the chain's last entry was sealed with `key`: `None` while
    /// the log is empty. A process given another key would break the chain
    /// with its first entry.
    pub async fn audit_tail_sealed_by(&self, key: &AuditKey) -> crate::Result<Option<bool>> {
        let last: Option<i64> = sqlx::query("SELECT MAX(seq) AS last FROM audit_log")
            .fetch_one(self.pool())
            .await?
            .try_get("last")?;
        let Some(last) = last else {
            return Ok(None);
        };
        let tail = self.audit_entries(None, last - 2, 2).await?;
        let (previous, entry) = match tail.as_slice() {
            [previous, entry] => (previous.mac.as_str(), entry),
            [entry] => ("", entry),
            _ => return Ok(None),
        };
        Ok(Some(key.seal(previous, entry) == entry.mac))
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|e| e.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chain(key: &AuditKey, n: i64) -> Vec<AuditEntry> {
        let mut previous = String::new();
        (1..=n)
            .map(|seq| {
                let mut entry = AuditEntry {
                    seq,
                    at: 1_000 + seq,
                    tenant: "acme".into(),
                    actor: "key-1".into(),
                    action: "workflow.write".into(),
                    target: format!("workflow:{seq}"),
                    source: "127.0.0.1".into(),
                    before: None,
                    after: Some(state_hash(&json!({ "n": seq }))),
                    mac: String::new(),
                };
                entry.mac = key.seal(&previous, &entry);
                previous = entry.mac.clone();
                entry
            })
            .collect()
    }

    fn head(key: &AuditKey, entries: &[AuditEntry]) -> Checkpoint {
        key.checkpoint(entries.last().unwrap())
    }

    #[test]
    fn a_missing_or_unsealed_checkpoint_fails() {
        let key = AuditKey::new([7; 32]);
        let entries = chain(&key, 3);
        assert_eq!(
            verify(&key, entries.clone(), None),
            Err(ChainBreak::MissingCheckpoint { last: 3 })
        );
        assert_eq!(
            verify(&key, Vec::new(), None),
            Ok(0),
            "an empty log needs none"
        );
        // Moved back to entry 1 to cover a truncation, without the key.
        let mut moved = key.checkpoint(&entries[0]);
        moved.seal = String::new();
        assert_eq!(
            verify(&key, entries[..1].to_vec(), Some(&moved)),
            Err(ChainBreak::ForgedCheckpoint { seq: 1 })
        );
        moved.seal = AuditKey::new([8; 32]).checkpoint(&entries[0]).seal;
        assert!(verify(&key, entries[..1].to_vec(), Some(&moved)).is_err());
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let key = AuditKey::new([7; 32]);
        let entries = chain(&key, 5);
        assert_eq!(
            verify(&key, entries.clone(), Some(&head(&key, &entries))),
            Ok(5)
        );
    }

    #[test]
    fn a_chain_recomputed_with_the_key_misses_the_checkpoint() {
        let key = AuditKey::new([7; 32]);
        let entries = chain(&key, 4);
        let checkpoint = head(&key, &entries);
        let mut forged = entries;
        forged[1].actor = "someone-else".into();
        let mut previous = forged[0].mac.clone();
        for entry in &mut forged[1..] {
            entry.mac = key.seal(&previous, entry);
            previous = entry.mac.clone();
        }
        assert_eq!(
            verify(&key, forged, Some(&checkpoint)),
            Err(ChainBreak::Rewritten { seq: 4 })
        );
    }

    #[test]
    fn another_key_fails_at_the_first_entry() {
        let entries = chain(&AuditKey::new([7; 32]), 3);
        assert_eq!(
            verify(&AuditKey::new([8; 32]), entries, None),
            Err(ChainBreak::Tampered { seq: 1 })
        );
    }

    proptest! {
        #[test]
        fn editing_any_field_of_any_entry_is_found(n in 1i64..12, at in 0usize..12, field in 0usize..6) {
            let key = AuditKey::new([3; 32]);
            let mut entries = chain(&key, n);
            let at = at % entries.len();
            let entry = &mut entries[at];
            match field {
                0 => entry.tenant.push('x'),
                1 => entry.actor.push('x'),
                2 => entry.action.push('x'),
                3 => entry.target.push('x'),
                4 => entry.at += 1,
                _ => entry.after = None,
            }
            let checkpoint = head(&key, &entries);
            prop_assert_eq!(verify(&key, entries, Some(&checkpoint)), Err(ChainBreak::Tampered { seq: at as i64 + 1 }));
        }

        #[test]
        fn deleting_reordering_or_truncating_is_found(n in 2i64..12, pick in 0usize..12, how in 0usize..3) {
            let key = AuditKey::new([3; 32]);
            let mut entries = chain(&key, n);
            let checkpoint = head(&key, &entries);
            let at = pick % (entries.len() - 1);
            match how {
                0 => { entries.remove(at); }
                1 => entries.swap(at, at + 1),
                _ => entries.truncate(at + 1),
            }
            prop_assert!(verify(&key, entries, Some(&checkpoint)).is_err());
        }
    }
}
