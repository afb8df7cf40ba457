//! Room rules as signaling enforces them (mutes, slow mode, the creator's blocklist and blocked
//! regions), asked of the broker (`RoomControl::policy`) and cached briefly per node.
//!
//! The broker announces every change on the room channel (`member.muted`, `member.removed`,
//! `room.policy`); a node with members in the room drops its cached copy when it sees one, so
//! a mute takes effect at once where the muted user is. Joins never use the cache: a ban or a
//! blocked region must hold on the very next join, on any node.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tandem_shared::hooks::Hooks;
use tandem_shared::ids::{RoomId, UserId};
use tandem_shared::moderation::RoomPolicy;

/// How long a cached policy is trusted (changes announced on the room channel evict earlier).
const CACHE_TTL: Duration = Duration::from_secs(5);
/// Cached policies kept at most; the cache is cleared when it grows past this.
const CACHE_MAX: usize = 50_000;

/// Per-node cache of room policies.
pub struct Policies {
    hooks: Hooks,
    cache: Mutex<HashMap<RoomId, (Arc<RoomPolicy>, Instant)>>,
}

impl Policies {
    /// Policies asked of the room control in `hooks`.
    pub fn new(hooks: Hooks) -> Self {
        Self { hooks, cache: Mutex::new(HashMap::new()) }
    }

    /// The room's policy from cache or the broker; `None` for an unknown room.
    ///
    /// # Errors
    /// No room control is installed, or the broker cannot answer.
    pub async fn get(&self, room: RoomId) -> anyhow::Result<Option<Arc<RoomPolicy>>> {
        if let Some(hit) = self
            .cache
            .lock()
            .ok()
            .and_then(|c| c.get(&room).filter(|(_, at)| at.elapsed() < CACHE_TTL).map(|(p, _)| p.clone()))
        {
            return Ok(Some(hit));
        }
        let control = self.hooks.rooms().ok_or_else(|| anyhow::anyhow!("no room control is installed"))?;
        let Some(policy) = control.policy(room, None).await? else { return Ok(None) };
        let policy = Arc::new(policy);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
            cache.insert(room, (policy.clone(), Instant::now()));
        }
        Ok(Some(policy))
    }

    /// The room's policy for `user`'s join, straight from the broker (with whether they are
    /// banned); refreshes the cache.
    ///
    /// # Errors
    /// No room control is installed, or the broker cannot answer.
    pub async fn for_join(&self, room: RoomId, user: UserId) -> anyhow::Result<Option<RoomPolicy>> {
        let control = self.hooks.rooms().ok_or_else(|| anyhow::anyhow!("no room control is installed"))?;
        let policy = control.policy(room, Some(user)).await?;
        if let (Some(p), Ok(mut cache)) = (&policy, self.cache.lock()) {
            if cache.len() < CACHE_MAX {
                cache.insert(room, (Arc::new(RoomPolicy { banned: false, ..p.clone() }), Instant::now()));
            }
        }
        Ok(policy)
    }

    /// Forget a room's policy (it changed, or the room ended).
    pub fn evict(&self, room: RoomId) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(&room);
        }
    }

    /// Drop expired entries.
    pub fn prune(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
        }
    }
}
