//! The node's background chores on one shared clock (no per-socket timers): pings and idle
//! checks, token expiry, viewer counts, expiry of dropped sockets' places, AI prompt rounds, and
//! the drain on shutdown.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tandem_shared::live::{set_node_viewers, viewer_counts};

use crate::protocol::ServerEvent;
use crate::Node;

const TICK: Duration = Duration::from_secs(1);
const PRUNE_EVERY: Duration = Duration::from_secs(30);

/// Run the chores every second until shutdown.
pub async fn run(node: Arc<Node>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut last_sweep, mut last_prune) = (Instant::now(), Instant::now());
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
            last_prune = Instant::now();
        }
        if let Err(e) = viewers(&node).await {
            tracing::warn!(error.message = %e, "failed to update viewer counts");
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

/// On shutdown: refuse new sockets and ask every socket to reconnect elsewhere.
pub async fn drain(node: Arc<Node>) {
    node.core.shutdown.cancelled().await;
    node.core.draining.store(true, Ordering::SeqCst);
    let n = node.hub.len();
    tracing::info!(sockets = n, "draining signaling sockets");
    node.hub.drain();
}
