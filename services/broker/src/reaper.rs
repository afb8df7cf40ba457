//! The reaper: a background task on every broker that ends dead rooms and expires requests.
//!
//! Each tick it
//! 1. expires pending requests past their deadline (rows claimed with `skip locked`);
//! 2. checks the heartbeats of every live room's host and private guest: a member older than the
//!    grace period ends the room with `heartbeat_lost`; a member missing from Redis (Redis was
//!    flushed or restarted) is re-seeded with "now", so it gets one grace period to come back;
//! 3. ends rooms whose host stream has been idle past the grace period (`stream_idle`);
//! 4. releases slots still held by rooms that ended a while ago (a failed delete, a crashed ender);
//! 5. deletes Daydream streams of rooms that ended a while ago and still hold one;
//! 6. drops heartbeat members far older than any live room would tolerate;
//! 7. starts showcases at `starts_at` and moves live ones to their next segment on schedule
//!    ([`crate::showcase::schedule::tick`], rows claimed with `skip locked`).
//!
//! Every `reconcile_interval`, [`reconcile_streams`] asks the provider whether streams we think
//! are publishing really are. At start and whenever Redis comes back empty (the `broker:alive`
//! marker is gone), [`reconcile_locks`] re-takes the availability locks of live private rooms.
//!
//! Several brokers run it at once: ending is a conditional update, so each room ends exactly once.

use crate::broker::Broker;
use crate::domain::{end_reason, MediaMode, RoomKind, RoomStatus};
use crate::presence;
use crate::store;
use std::time::Duration;
use tandem_shared::live::{heartbeat_member, heartbeats_key};

/// Spawn the reaper; it stops when `core.shutdown` is cancelled.
pub fn spawn(broker: Broker) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let shutdown = broker.core.shutdown.clone();
        let mut tick = tokio::time::interval(broker.settings.reaper_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_reconcile = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            match redis_was_reset(&broker).await {
                Ok(false) => {}
                Ok(true) => {
                    if let Err(e) = reconcile_locks(&broker).await {
                        tracing::warn!(error.cause_chain = ?e, "failed to reconcile availability locks");
                    }
                }
                Err(e) => tracing::warn!(error.message = %e, "redis unavailable to the reaper"),
            }
            if let Err(e) = run_once(&broker).await {
                tracing::warn!(error.cause_chain = ?e, "reaper pass failed");
            }
            if last_reconcile.elapsed() >= broker.settings.reconcile_interval {
                last_reconcile = tokio::time::Instant::now();
                if let Err(e) = reconcile_streams(&broker).await {
                    tracing::warn!(error.cause_chain = ?e, "stream reconciliation failed");
                }
            }
        }
    })
}

/// Whether Redis lost the broker's state since the last tick (or this is the first tick): the
/// marker `broker:alive` (TTL 3 reaper ticks, at least 60 s) is set again on every tick and is
/// missing only after a start, a long pause, or a Redis that restarted empty.
async fn redis_was_reset(broker: &Broker) -> redis::RedisResult<bool> {
    let redis = &broker.core.redis;
    let ttl = (broker.settings.reaper_interval.as_secs() * 3).max(60);
    let mut c = redis.conn.clone();
    let before: Option<String> = redis::cmd("SET")
        .arg(redis.key(format_args!("broker:alive")))
        .arg(1)
        .arg("EX")
        .arg(ttl)
        .arg("GET")
        .query_async(&mut c)
        .await?;
    Ok(before.is_none())
}

/// After a start (or a Redis loss): re-take the availability lock of every live private room whose
/// lock is gone, so its creator cannot be double-booked. A room that ended meanwhile gives it back.
///
/// # Errors
/// Database or Redis errors.
pub async fn reconcile_locks(broker: &Broker) -> anyhow::Result<usize> {
    let redis = &broker.core.redis;
    let mut retaken = 0;
    for room in store::live_rooms(&broker.core.db).await?.iter().filter(|r| r.kind == RoomKind::Private) {
        if presence::take_lock(redis, room.host_id, room.room_id, broker.settings.lock_ttl).await? {
            let still_live =
                store::room(&broker.core.db, room.room_id).await?.is_some_and(|r| r.status == RoomStatus::Live);
            if still_live {
                retaken += 1;
                tracing::warn!(room_id = %room.room_id, "availability lock was missing: re-taken for a live private room");
            } else {
                presence::release_lock(redis, room.host_id, room.room_id).await?;
            }
        }
    }
    Ok(retaken)
}

/// Ask the provider about slots we believe are publishing and mark those it reports inactive as
/// idle (Livepeer sends no `stream.idle` for streams it cleans up as stale). An idle host slot
/// then ends its room after the grace period like any other.
///
/// # Errors
/// Database errors (provider errors are logged per stream).
pub async fn reconcile_streams(broker: &Broker) -> anyhow::Result<usize> {
    let mut fixed = 0;
    for media in [MediaMode::Livepeer] {
        let Some(provider) = broker.provider(media) else { continue };
        for slot in store::publishing_slots(&broker.core.db, media).await? {
            let Some(stream_id) = slot.provider_stream_id.as_deref() else { continue };
            match provider.stream_active(stream_id).await {
                Ok(Some(false)) => {
                    if broker.set_slot_state(slot.slot_id, false).await.map_err(|e| anyhow::anyhow!("{e:?}"))? {
                        fixed += 1;
                        tracing::warn!(slot_id = %slot.slot_id, %stream_id, "provider reports the stream inactive: marked idle");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(%stream_id, error.message = %e, "failed to read a stream's state"),
            }
        }
    }
    Ok(fixed)
}

/// One reaper pass.
///
/// # Errors
/// Database or Redis errors (the next tick tries again).
pub async fn run_once(broker: &Broker) -> anyhow::Result<()> {
    broker.expire_requests().await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    broker.resume_billing_starts().await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    broker.ai.sweep().await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    crate::showcase::schedule::tick(broker).await?;
    let grace = broker.settings.heartbeat_grace;
    let redis = &broker.core.redis;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let cutoff = now_ms - grace.as_millis() as i64;
    let rooms = store::live_rooms(&broker.core.db).await?;
    metrics::gauge!("broker_live_rooms").set(rooms.len() as f64);
    for chunk in rooms.chunks(500) {
        let mut members = Vec::with_capacity(chunk.len() * 2);
        for room in chunk {
            members.push((room.room_id, heartbeat_member(room.room_id, room.host_id)));
            if room.kind == RoomKind::Private {
                if let Some(g) = room.guest_id {
                    members.push((room.room_id, heartbeat_member(room.room_id, g)));
                }
            }
        }
        let mut c = redis.conn.clone();
        let mut cmd = redis::cmd("ZMSCORE");
        cmd.arg(heartbeats_key(redis));
        for (_, m) in &members {
            cmd.arg(m);
        }
        let scores: Vec<Option<f64>> = cmd.query_async(&mut c).await?;
        let mut dead = Vec::new();
        let mut missing = Vec::new();
        for ((room_id, member), score) in members.iter().zip(scores) {
            match score {
                Some(s) if (s as i64) < cutoff => dead.push(*room_id),
                Some(_) => {}
                None => missing.push(member.clone()),
            }
        }
        if !missing.is_empty() {
            let mut cmd = redis::cmd("ZADD");
            cmd.arg(heartbeats_key(redis)).arg("NX");
            for m in &missing {
                cmd.arg(now_ms).arg(m);
            }
            cmd.query_async::<()>(&mut c).await?;
            tracing::warn!(count = missing.len(), "heartbeats missing from Redis: re-seeded for one grace period");
        }
        dead.dedup();
        for room_id in dead {
            if broker.end_room(room_id, end_reason::HEARTBEAT_LOST).await.map_err(|e| anyhow::anyhow!("{e:?}"))? {
                metrics::counter!("broker_reaped_rooms_total", "reason" => end_reason::HEARTBEAT_LOST).increment(1);
            }
        }
    }
    for room_id in store::rooms_with_idle_host(&broker.core.db, grace.as_secs_f64()).await? {
        if broker.end_room(room_id, end_reason::STREAM_IDLE).await.map_err(|e| anyhow::anyhow!("{e:?}"))? {
            metrics::counter!("broker_reaped_rooms_total", "reason" => end_reason::STREAM_IDLE).increment(1);
        }
    }
    for slot in store::unreleased_slots_of_ended_rooms(&broker.core.db, 30).await? {
        broker.release_slot(&slot).await;
    }
    let stale = now_ms - (grace * 20).max(Duration::from_secs(600)).as_millis() as i64;
    let mut c = redis.conn.clone();
    redis::cmd("ZREMRANGEBYSCORE").arg(heartbeats_key(redis)).arg("-inf").arg(stale).query_async::<()>(&mut c).await?;
    Ok(())
}
