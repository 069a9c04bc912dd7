//! Redis between processes (docs/architecture.md decision 7): each engine's run
//! changes are published, and every other process hears them, so an idle
//! worker wakes when an API replica starts a run, SSE streams on any
//! replica follow runs that workers advance, and a synchronous webhook
//! hears that its run ended on a worker.
//!
//! Redis only speeds things up: the store stays the truth. While Redis is
//! unreachable, workers find work by polling (every idle interval) and the
//! bus says so in the log, then reconnects.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use n8n_work_engine::{Change, Engine};
use n8n_work_vault::Vault;
use tokio_util::sync::CancellationToken;

/// The channels of one deployment (`--redis-prefix`): run changes, and
/// activation changes (the origin engine's name).
struct Channels {
    changes: String,
    activations: String,
    /// Master key rotations (`n8n_work_api::VAULT_CHANNEL`).
    vault: String,
}

/// Publishes this engine's changes and applies everyone else's, on the
/// channels under `prefix`, until `shutdown`; reconnects with backoff while
/// Redis is away.
pub(crate) async fn run(
    client: redis::Client,
    prefix: &str,
    engine: Engine,
    vault: Option<Arc<Vault>>,
    shutdown: CancellationToken,
) {
    let channels = Channels {
        changes: format!("{prefix}:changes"),
        activations: format!("{prefix}:activations"),
        vault: format!("{prefix}:{}", n8n_work_api::VAULT_CHANNEL),
    };
    let mut backoff = Duration::from_millis(200);
    loop {
        let result = connected(
            &client,
            &channels,
            &engine,
            vault.as_ref(),
            &shutdown,
            &mut backoff,
        )
        .await;
        engine.metrics().set_redis_connected(false);
        match result {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    retry_in_ms = backoff.as_millis() as u64,
                    "Redis is unreachable; workers poll the store until it is back"
                );
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.cancelled() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

async fn connected(
    client: &redis::Client,
    channels: &Channels,
    engine: &Engine,
    vault: Option<&Arc<Vault>>,
    shutdown: &CancellationToken,
    backoff: &mut Duration,
) -> redis::RedisResult<()> {
    let mut publish = client.get_multiplexed_async_connection().await?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub
        .subscribe(&[&channels.changes, &channels.activations, &channels.vault])
        .await?;
    let mut heard = pubsub.into_on_message();
    let mut local = engine.changes();
    let mut activations = engine.activations();
    engine.metrics().set_redis_connected(true);
    *backoff = Duration::from_millis(200);
    tracing::info!("connected to Redis: run changes are shared with the other processes");
    loop {
        tokio::select! {
            change = local.recv() => match change {
                Ok(change) if change.origin == engine.owner() => {
                    let payload = serde_json::to_string(&change).unwrap_or_default();
                    redis::cmd("PUBLISH")
                        .arg(&channels.changes)
                        .arg(payload)
                        .query_async::<()>(&mut publish)
                        .await?;
                }
                // Heard from elsewhere and re-broadcast here: not ours to send.
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "run changes came faster than Redis took them; others see them at their next poll");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
            },
            origin = activations.recv() => match origin {
                Ok(origin) if origin == engine.owner() => {
                    redis::cmd("PUBLISH")
                        .arg(&channels.activations)
                        .arg(origin)
                        .query_async::<()>(&mut publish)
                        .await?;
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
            },
            message = heard.next() => {
                let Some(message) = message else {
                    return Err(redis::RedisError::from((redis::ErrorKind::Io, "the subscription ended")));
                };
                if message.get_channel_name() == channels.vault {
                    // Another process rotated the master key: take the new
                    // one now, not at the next data key.
                    if let Some(vault) = vault {
                        match vault.follow_rotation().await {
                            Ok(key) => tracing::info!(master_key_id = %key.id(), "heard of a master key rotation"),
                            Err(e) => tracing::warn!(error = %e, "heard of a master key rotation this process cannot follow yet"),
                        }
                    }
                    continue;
                }
                if message.get_channel_name() == channels.activations {
                    let origin = String::from_utf8_lossy(message.get_payload_bytes()).into_owned();
                    if origin != engine.owner() {
                        engine.remote_activations_changed(origin);
                    }
                    continue;
                }
                let Ok(change) = serde_json::from_slice::<Change>(message.get_payload_bytes()) else {
                    continue;
                };
                if change.origin != engine.owner() {
                    engine.remote_change(change);
                }
            }
            _ = shutdown.cancelled() => return Ok(()),
        }
    }
}
