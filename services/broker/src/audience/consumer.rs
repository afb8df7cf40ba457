//! Every broker reads signaling's audience batches from the Redis Stream in one consumer group:
//! each entry goes to one broker, is applied in one transaction, then acknowledged and deleted.
//! Entries a broker took and never acknowledged (it died, or PostgreSQL failed) are claimed by
//! any broker after [`CLAIM_IDLE_MS`]. Polling, not `BLOCK`: the Redis connection is shared.

use super::store;
use crate::broker::Broker;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};
use std::time::{Duration, Instant};
use tandem_shared::audience::{stream_key, AudienceBatch, GROUP};

/// How often the stream is read.
const POLL: Duration = Duration::from_millis(500);
/// Entries read per call.
const COUNT: usize = 200;
/// A pending entry idle this long is taken over from its consumer.
const CLAIM_IDLE_MS: u64 = 30_000;
/// How often old batch ids are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Spawn the consumer; it stops with `core.shutdown`.
pub(crate) fn spawn(broker: Broker) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let consumer = format!("broker-{}", uuid::Uuid::new_v4().simple());
        let shutdown = broker.core.shutdown.clone();
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_prune = Instant::now();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            if let Err(e) = pass(&broker, &consumer).await {
                tracing::warn!(error.cause_chain = ?e, "audience consumer pass failed");
            }
            if last_prune.elapsed() >= PRUNE_EVERY {
                last_prune = Instant::now();
                if let Err(e) = store::prune(&broker.core.db).await {
                    tracing::warn!(error.message = %e, "failed to prune audience batch ids");
                }
            }
        }
    })
}

/// Create the group (and the stream) unless it exists: after a start, or a Redis that came back
/// empty.
async fn ensure_group(broker: &Broker) -> redis::RedisResult<()> {
    let mut c = broker.core.redis.conn.clone();
    let created: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream_key(&broker.core.redis))
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut c)
        .await;
    match created {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other,
    }
}

/// Claim stale entries, then read new ones until the stream is drained.
///
/// # Errors
/// Redis errors.
pub(crate) async fn pass(broker: &Broker, consumer: &str) -> anyhow::Result<usize> {
    ensure_group(broker).await?;
    let key = stream_key(&broker.core.redis);
    let mut c = broker.core.redis.conn.clone();
    let claimed: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
        .arg(&key)
        .arg(GROUP)
        .arg(consumer)
        .arg(CLAIM_IDLE_MS)
        .arg("0-0")
        .arg("COUNT")
        .arg(COUNT)
        .query_async(&mut c)
        .await?;
    let mut applied = handle(broker, &key, claimed.claimed).await?;
    loop {
        let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(consumer)
            .arg("COUNT")
            .arg(COUNT)
            .arg("STREAMS")
            .arg(&key)
            .arg(">")
            .query_async(&mut c)
            .await?;
        let entries: Vec<StreamId> = reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids).collect();
        let n = entries.len();
        applied += handle(broker, &key, entries).await?;
        if n < COUNT {
            return Ok(applied);
        }
    }
}

/// Apply one batch, counting what view counting costs the broker (`broker_audience_*`).
async fn timed_apply(broker: &Broker, batch: &AudienceBatch) -> Result<bool, sqlx::Error> {
    let started = Instant::now();
    let fresh = store::apply(&broker.core.db, batch).await?;
    metrics::counter!("broker_audience_apply_micros_total").increment(started.elapsed().as_micros() as u64);
    if fresh {
        metrics::counter!("broker_audience_batches_applied_total").increment(1);
        metrics::counter!("broker_audience_spans_applied_total").increment(batch.spans.len() as u64);
    }
    Ok(fresh)
}

/// Apply entries, then acknowledge and delete those applied (or unreadable).
async fn handle(broker: &Broker, key: &str, entries: Vec<StreamId>) -> anyhow::Result<usize> {
    let mut done = Vec::with_capacity(entries.len());
    let mut applied = 0;
    for entry in entries {
        let batch = entry.get::<String>("b").and_then(|json| serde_json::from_str::<AudienceBatch>(&json).ok());
        match batch {
            Some(batch) => match timed_apply(broker, &batch).await {
                Ok(fresh) => {
                    applied += usize::from(fresh);
                    done.push(entry.id);
                }
                // Left pending: claimed again after CLAIM_IDLE_MS.
                Err(e) => tracing::warn!(error.message = %e, id = %entry.id, "failed to apply an audience batch"),
            },
            None => {
                tracing::error!(id = %entry.id, "dropping an unreadable audience entry");
                done.push(entry.id);
            }
        }
    }
    if !done.is_empty() {
        let mut c = broker.core.redis.conn.clone();
        redis::pipe()
            .cmd("XACK")
            .arg(key)
            .arg(GROUP)
            .arg(&done)
            .ignore()
            .cmd("XDEL")
            .arg(key)
            .arg(&done)
            .ignore()
            .query_async::<()>(&mut c)
            .await?;
    }
    Ok(applied)
}
