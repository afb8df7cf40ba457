//! The node's background chores on one shared clock (no per-socket timers): pings and idle
//! checks, token expiry, viewer counts, expiry of dropped sockets' places, the node heartbeat and
//! the sweep of dead nodes, AI prompt rounds, and the drain on shutdown.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tandem_shared::live::{set_node_viewers, viewer_counts};

use crate::hub::PendingLeave;
use crate::protocol::ServerEvent;
use crate::Node;

const TICK: Duration = Duration::from_secs(1);
const PRUNE_EVERY: Duration = Duration::from_secs(30);

/// Run the chores every second until shutdown.
pub async fn run(node: Arc<Node>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut last_sweep, mut last_prune) = (Instant::now(), Instant::now());
    let mut last_places: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = node.core.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if last_sweep.elapsed() >= node.settings.ping_every {
            node.hub.sweep(node.settings.idle_timeout);
            last_sweep = Instant::now();
        }
        let expired = node.hub.close_expired(chrono::Utc::now().timestamp());
        if expired > 0 {
            metrics::counter!("signaling_sockets_expired_total").increment(expired as u64);
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            node.rooms.prune();
            node.policies.prune();
            last_prune = Instant::now();
        }
        if let Err(e) = viewers(&node).await {
            tracing::warn!(error.message = %e, "failed to update viewer counts");
        }
        if last_places.is_none_or(|at| at.elapsed() + TICK / 2 >= node.settings.place_refresh) {
            last_places = Some(Instant::now());
            if let Err(e) = places(&node).await {
                tracing::warn!(error.message = %e, "failed to keep socket places");
            }
        }
        for leave in node.hub.due_leaves(Instant::now()) {
            crate::session::expire_place(&node, leave).await;
        }
        crate::prompts::drive(&node).await;
    }
}

/// Write this node's viewer counts and push changed totals to local members (at most once a
/// tick per room).
async fn viewers(node: &Node) -> redis::RedisResult<()> {
    let redis = &node.core.redis;
    let id = &node.settings.node_id;
    let (rooms, emptied) = node.hub.viewer_snapshot();
    for room in emptied {
        set_node_viewers(redis, room, id, 0).await?;
    }
    for r in rooms.iter().filter(|r| r.write) {
        set_node_viewers(redis, r.room, id, r.local).await?;
    }
    let ids: Vec<_> = rooms.iter().map(|r| r.room).collect();
    let totals = viewer_counts(redis, &ids).await?;
    for (room, count) in ids.into_iter().zip(totals) {
        if node.hub.viewers_changed(room, count) {
            node.hub.deliver_local(room, &ServerEvent::Viewers { room_id: room, count }.to_json());
        }
    }
    Ok(())
}

/// Beat this node's heartbeat, rewrite its places if Redis lost them, and sweep dead nodes:
/// their places become resume records (announced as left when nobody resumes them in the
/// window), their viewer counts and socket-cap entries go.
async fn places(node: &Arc<Node>) -> redis::RedisResult<()> {
    let kept = node.places.heartbeat().await?;
    if !kept || node.places_dirty.swap(false, Ordering::Relaxed) {
        let mine = node.hub.places();
        if !mine.is_empty() {
            if let Err(e) = node.places.rewrite(&mine).await {
                node.places_dirty.store(true, Ordering::Relaxed);
                return Err(e);
            }
            tracing::info!(sockets = mine.len(), "rewrote this node's socket places");
        }
    }
    for dead in node.places.dead_nodes().await? {
        let Some(taken) = node.places.sweep(&dead).await? else { continue };
        tracing::warn!(node = %dead, places = taken.len(), "swept a dead signaling node");
        metrics::counter!("signaling_dead_nodes_swept_total").increment(1);
        let mut rooms = std::collections::HashSet::new();
        for (token, record) in taken {
            node.log.save_resume(&token.to_string(), &record).await?;
            if let Some(conn) = record.conn {
                crate::sockets::release(&node.core.redis, record.user_id, conn).await?;
            }
            let (Some(room_id), Some(role)) = (record.room_id, record.role) else { continue };
            rooms.insert(room_id);
            let info = match node.rooms.get(room_id).await {
                Ok(Some(info)) => info,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error.message = %e, %room_id, "room lookup failed while sweeping");
                    continue;
                }
            };
            node.hub.schedule_leave(PendingLeave {
                due: Instant::now() + node.settings.resume_window,
                token,
                room: info,
                user: record.user_id,
                role,
            });
        }
        for room in rooms {
            set_node_viewers(&node.core.redis, room, &dead, 0).await?;
        }
    }
    Ok(())
}

/// On shutdown: refuse new sockets and ask every socket to reconnect elsewhere.
pub async fn drain(node: Arc<Node>) {
    node.core.shutdown.cancelled().await;
    node.core.draining.store(true, Ordering::SeqCst);
    let n = node.hub.len();
    tracing::info!(sockets = n, "draining signaling sockets");
    node.hub.drain();
}
