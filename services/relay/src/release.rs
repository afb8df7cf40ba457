//! Slot releases from the broker ([`tandem_shared::slot_release`]): when a room ends, the
//! relay ends the publisher and players of its slots, and refuses new sessions on them while
//! the tokens issued before the end are still valid.
//!
//! Nothing fails open: the Redis marker and message are the fast path, but a session starts
//! only after the broker (PostgreSQL, through `RoomControl::released_slots`) confirms its slot
//! may carry media, and every running slot is re-validated the same way every
//! `TANDEM_RELAY_REVALIDATE_SECS`, so a release lost with Redis still ends the sessions.
//!
//! Stage changes travel the same way: the broker bumps the guest slot's publish generation
//! and announces it; the relay ends publishers of older generations and refuses their tokens.

use crate::error::RelayError;
use crate::forward::Forwarder;
use futures_util::StreamExt;
use std::time::Duration;
use tandem_shared::hooks::Hooks;
use tandem_shared::ids::SlotId;
use tandem_shared::redis::RedisHandle;
use tandem_shared::slot_release::{self, release_channel, SlotRelease};
use tokio_util::sync::CancellationToken;

/// Whether `slot` was released by the broker.
///
/// Fails open: when Redis cannot be asked the session is allowed (and logged), so media keeps
/// working through a Redis outage; the token's expiry still bounds it.
pub async fn is_released(redis: &RedisHandle, slot: SlotId) -> bool {
    match slot_release::is_released(redis, slot).await {
        Ok(released) => released,
        Err(e) => {
            tracing::warn!(slot_id = %slot, error.cause_chain = ?e, "could not check whether a slot was released; allowing");
            false
        }
    }
}

/// The broker's publish generation of `slot`, or `None` when it may no longer carry media.
///
/// # Errors
/// [`RelayError::Unavailable`] when no room control is installed or the broker cannot answer.
pub async fn generation_from_broker(hooks: &Hooks, slot: SlotId) -> Result<Option<u32>, RelayError> {
    let Some(rooms) = hooks.rooms() else {
        tracing::error!("no room control is installed: the relay cannot check slots");
        return Err(RelayError::Unavailable);
    };
    match rooms.live_slots(&[slot]).await {
        Ok(live) => Ok(live.iter().find(|s| s.slot_id == slot).map(|s| s.generation)),
        Err(e) => {
            tracing::error!(slot_id = %slot, error.cause_chain = ?e, "the broker cannot say whether a slot is released");
            Err(RelayError::Unavailable)
        }
    }
}

/// Whether the broker says `user` is banned from the room of `slot`.
///
/// # Errors
/// [`RelayError::Unavailable`] when no room control is installed or the broker cannot answer
/// (refused, never let through).
pub async fn banned_by_broker(
    hooks: &Hooks,
    slot: SlotId,
    user: tandem_shared::ids::UserId,
) -> Result<bool, RelayError> {
    let Some(rooms) = hooks.rooms() else {
        tracing::error!("no room control is installed: the relay cannot check bans");
        return Err(RelayError::Unavailable);
    };
    rooms.banned_on_slot(slot, user).await.map_err(|e| {
        tracing::error!(slot_id = %slot, error.cause_chain = ?e, "the broker cannot say whether a user is banned");
        RelayError::Unavailable
    })
}

/// Every `every`, ask the broker which slots in use were released and end their sessions,
/// until `shutdown`.
pub fn spawn_revalidation(hooks: Hooks, forwarder: Forwarder, every: Duration, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {
                    revalidate(&hooks, &forwarder).await;
                }
            }
        }
    });
}

/// End the sessions of slots in use that the broker says are released, and the publishers
/// whose generation the broker revoked; returns how many sessions ended.
pub async fn revalidate(hooks: &Hooks, forwarder: &Forwarder) -> usize {
    let slots: Vec<SlotId> = forwarder.stats().slots.into_iter().map(|s| s.slot_id).collect();
    if slots.is_empty() {
        return 0;
    }
    let Some(rooms) = hooks.rooms() else { return 0 };
    let live = match rooms.live_slots(&slots).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error.cause_chain = ?e, "could not re-validate the relay's slots; retrying next period");
            return 0;
        }
    };
    let released: Vec<SlotId> = slots.iter().copied().filter(|s| !live.iter().any(|l| l.slot_id == *s)).collect();
    let ended: usize = released.iter().map(|slot| forwarder.end_slot(*slot)).sum::<usize>()
        + live.iter().map(|l| forwarder.raise_generation(l.slot_id, l.generation)).sum::<usize>();
    if ended > 0 {
        metrics::counter!("relay_sessions_released_total").increment(ended as u64);
        tracing::info!(sessions = ended, slots = released.len(), "closed the sessions of slots the broker released");
    }
    ended
}

/// End every session of the released slots (or, for a stage change, the publishers of older
/// generations); returns how many ended.
pub fn apply(forwarder: &Forwarder, release: &SlotRelease) -> usize {
    if let Some(user) = release.user_id {
        let ended: usize = release.slot_ids.iter().map(|slot| forwarder.end_user_plays(*slot, user)).sum();
        if ended > 0 {
            metrics::counter!("relay_sessions_revoked_total").increment(ended as u64);
            tracing::info!(room_id = %release.room_id, user_id = %user, sessions = ended, "a user removed from a room: their sessions were closed");
        }
        return ended;
    }
    if let Some(generation) = release.generation {
        let ended: usize = release.slot_ids.iter().map(|slot| forwarder.raise_generation(*slot, generation)).sum();
        if ended > 0 {
            metrics::counter!("relay_sessions_revoked_total").increment(ended as u64);
            tracing::info!(room_id = %release.room_id, generation, sessions = ended, "stage changed: the old publisher was closed");
        }
        return ended;
    }
    let ended: usize = release.slot_ids.iter().map(|slot| forwarder.end_slot(*slot)).sum();
    if ended > 0 {
        metrics::counter!("relay_sessions_released_total").increment(ended as u64);
        tracing::info!(room_id = %release.room_id, sessions = ended, "room ended: its relay sessions were closed");
    }
    ended
}

/// Listen for releases on Redis until `shutdown`, reconnecting with backoff. After each
/// (re)subscription, slots in use whose release was missed meanwhile are ended too.
pub fn spawn_listener(redis: RedisHandle, forwarder: Forwarder, shutdown: CancellationToken) {
    tokio::spawn(async move { listen(redis, forwarder, shutdown).await });
}

async fn listen(redis: RedisHandle, forwarder: Forwarder, shutdown: CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let subscribed = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = subscribe(&redis) => r,
        };
        let mut messages = match subscribed {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error.message = %e, "relay release subscription failed; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        sweep(&redis, &forwarder).await;
        loop {
            let msg = tokio::select! {
                _ = shutdown.cancelled() => return,
                msg = messages.next() => msg,
            };
            let Some(msg) = msg else {
                tracing::warn!("relay release subscription lost; reconnecting");
                break;
            };
            let parsed = msg
                .get_payload::<String>()
                .map_err(anyhow::Error::from)
                .and_then(|p| serde_json::from_str::<SlotRelease>(&p).map_err(anyhow::Error::from));
            match parsed {
                Ok(release) => {
                    apply(&forwarder, &release);
                }
                Err(e) => tracing::warn!(error.message = %e, "ignoring a malformed slot release"),
            }
        }
    }
}

async fn subscribe(
    redis: &RedisHandle,
) -> anyhow::Result<impl futures_util::Stream<Item = redis::Msg> + Send + 'static> {
    let mut pubsub = redis.client.get_async_pubsub().await?;
    pubsub.subscribe(release_channel(redis)).await?;
    Ok(pubsub.into_on_message())
}

/// End the sessions of slots in use that were released while nobody listened.
async fn sweep(redis: &RedisHandle, forwarder: &Forwarder) {
    for slot in forwarder.stats().slots.into_iter().map(|s| s.slot_id) {
        if is_released(redis, slot).await {
            let ended = forwarder.end_slot(slot);
            tracing::info!(slot_id = %slot, sessions = ended, "closed the sessions of a slot released meanwhile");
        }
    }
}
