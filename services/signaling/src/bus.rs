//! The node's single Redis pub/sub connection.
//!
//! One task owns the subscriptions: sockets ask it to [`Bus::ensure`] a topic (a join waits for
//! the SUBSCRIBE confirmation, so no event published after the join is missed) or to
//! [`Bus::sync`] one they no longer need. It compares what the [`Hub`] wants with what is
//! subscribed and batches every pending change into one SUBSCRIBE and one UNSUBSCRIBE, so a
//! burst of thousands of joins costs a handful of round trips. A second task reads messages
//! and hands them to the hub. When the connection drops, both are rebuilt and every wanted
//! topic is subscribed again.

use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tandem_shared::events::{room_channel, user_channel};
use tandem_shared::redis::RedisHandle;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::hub::{Hub, Topic};
use crate::policy::Policies;
use crate::roomlog::backlog_key;
use crate::rooms::RoomDirectory;

/// How long a join waits for its subscription before answering `unavailable`.
const ENSURE_TIMEOUT: Duration = Duration::from_secs(3);
/// Most subscription changes handled in one batch.
const BATCH_MAX: usize = 4096;

enum Cmd {
    Sync(Topic, Option<oneshot::Sender<bool>>),
}

/// Handle to the subscription task.
#[derive(Clone)]
pub struct Bus {
    tx: mpsc::UnboundedSender<Cmd>,
}

impl Bus {
    /// Start the pub/sub tasks; they stop when `shutdown` is cancelled.
    pub fn start(
        redis: RedisHandle,
        hub: Arc<Hub>,
        rooms: Arc<RoomDirectory>,
        policies: Arc<Policies>,
        shutdown: CancellationToken,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let bus = Self { tx };
        tokio::spawn(subscriber(redis, hub, rooms, policies, rx, bus.clone(), shutdown));
        bus
    }

    /// Make sure the node is subscribed to `topic` (the hub must already want it).
    /// Returns false if Redis could not confirm in time.
    pub async fn ensure(&self, topic: Topic) -> bool {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Cmd::Sync(topic, Some(done))).is_err() {
            return false;
        }
        matches!(tokio::time::timeout(ENSURE_TIMEOUT, wait).await, Ok(Ok(true)))
    }

    /// Bring the subscription of `topic` in line with the hub, without waiting.
    pub fn sync(&self, topic: Topic) {
        let _ = self.tx.send(Cmd::Sync(topic, None));
    }
}

fn channel(redis: &RedisHandle, topic: Topic) -> String {
    match topic {
        Topic::Room(r) => room_channel(redis, r),
        Topic::User(u) => user_channel(redis, u),
    }
}

fn topic_of(redis: &RedisHandle, channel: &str) -> Option<Topic> {
    let rest = channel.strip_prefix(redis.prefix())?;
    if let Some(id) = rest.strip_prefix("room:") {
        return id.parse().ok().map(Topic::Room);
    }
    rest.strip_prefix("user:").and_then(|id| id.parse().ok()).map(Topic::User)
}

async fn subscriber(
    redis: RedisHandle,
    hub: Arc<Hub>,
    rooms: Arc<RoomDirectory>,
    policies: Arc<Policies>,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
    bus: Bus,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    let mut reconnect = false;
    'connect: loop {
        let pubsub = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = redis.client.get_async_pubsub() => r,
        };
        let pubsub = match pubsub {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error.message = %e, "signaling pub/sub connection failed; retrying");
                if !back_off(&shutdown, &mut backoff).await {
                    return;
                }
                continue;
            }
        };
        let (mut sink, stream) = pubsub.split();
        let mut subscribed: HashSet<Topic> = HashSet::new();
        let wanted = hub.topics();
        if !wanted.is_empty() {
            let chans: Vec<String> = wanted.iter().map(|t| channel(&redis, *t)).collect();
            if let Err(e) = sink.subscribe(chans).await {
                tracing::error!(error.message = %e, "failed to resubscribe; reconnecting");
                continue;
            }
            if reconnect {
                // Events published while the subscription was down are in the backlogs; the
                // live stream buffers meanwhile, and sockets drop what they already saw. A
                // replay that cannot read them (the command connection has not noticed the
                // restart yet) starts over, or the events would be lost to this node.
                if let Err(e) = replay_backlogs(&redis, &hub, &rooms, &policies, &bus, &wanted).await {
                    tracing::warn!(error.message = %e, "failed to read backlogs after a reconnect; retrying");
                    if !back_off(&shutdown, &mut backoff).await {
                        return;
                    }
                    continue;
                }
            }
            subscribed.extend(wanted);
        }
        reconnect = true;
        backoff = Duration::from_millis(100);
        let (dead_tx, mut dead) = oneshot::channel::<()>();
        tokio::spawn(dispatch(
            stream,
            redis.clone(),
            hub.clone(),
            rooms.clone(),
            policies.clone(),
            bus.clone(),
            dead_tx,
        ));
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = &mut dead => {
                    tracing::warn!("signaling pub/sub connection lost; reconnecting");
                    continue 'connect;
                }
                cmd = rx.recv() => match cmd { Some(c) => c, None => return },
            };
            let mut batch = vec![first];
            while batch.len() < BATCH_MAX {
                match rx.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(_) => break,
                }
            }
            let mut waiters: HashMap<Topic, Vec<oneshot::Sender<bool>>> = HashMap::new();
            let mut seen = HashSet::new();
            let (mut to_sub, mut to_unsub) = (Vec::new(), Vec::new());
            for Cmd::Sync(topic, done) in batch {
                if let Some(d) = done {
                    waiters.entry(topic).or_default().push(d);
                }
                if !seen.insert(topic) {
                    continue;
                }
                match (hub.wants(topic), subscribed.contains(&topic)) {
                    (true, false) => to_sub.push(topic),
                    (false, true) => to_unsub.push(topic),
                    _ => {}
                }
            }
            let mut failed = false;
            if !to_sub.is_empty() {
                let chans: Vec<String> = to_sub.iter().map(|t| channel(&redis, *t)).collect();
                match sink.subscribe(chans).await {
                    Ok(()) => subscribed.extend(to_sub),
                    Err(e) => {
                        tracing::error!(error.message = %e, "SUBSCRIBE failed");
                        failed = true;
                    }
                }
            }
            if !to_unsub.is_empty() && !failed {
                let chans: Vec<String> = to_unsub.iter().map(|t| channel(&redis, *t)).collect();
                match sink.unsubscribe(chans).await {
                    Ok(()) => to_unsub.iter().for_each(|t| {
                        subscribed.remove(t);
                    }),
                    Err(e) => {
                        tracing::error!(error.message = %e, "UNSUBSCRIBE failed");
                        failed = true;
                    }
                }
            }
            metrics::gauge!("signaling_subscriptions").set(subscribed.len() as f64);
            for (topic, ds) in waiters {
                let ok = subscribed.contains(&topic);
                for d in ds {
                    let _ = d.send(ok);
                }
            }
            if failed {
                continue 'connect;
            }
        }
    }
}

/// Wait `backoff` before the next attempt and double it (up to 5 s); false on shutdown.
async fn back_off(shutdown: &CancellationToken, backoff: &mut Duration) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => return false,
        _ = tokio::time::sleep(*backoff) => {}
    }
    *backoff = (*backoff * 2).min(Duration::from_secs(5));
    true
}

/// Deliver each wanted room's backlog to its local members (after a reconnect).
///
/// # Errors
/// Redis unreachable (nothing was delivered from the chunk that failed).
async fn replay_backlogs(
    redis: &RedisHandle,
    hub: &Hub,
    directory: &RoomDirectory,
    policies: &Policies,
    bus: &Bus,
    topics: &[Topic],
) -> redis::RedisResult<()> {
    let rooms: Vec<_> = topics.iter().filter_map(|t| if let Topic::Room(r) = t { Some(*r) } else { None }).collect();
    let mut conn = redis.conn.clone();
    let mut replayed = 0usize;
    for chunk in rooms.chunks(256) {
        let mut pipe = redis::pipe();
        for room in chunk {
            pipe.lrange(backlog_key(redis, *room), 0, -1);
        }
        let backlogs: Vec<Vec<Vec<u8>>> = pipe.query_async(&mut conn).await?;
        for (room, events) in chunk.iter().zip(backlogs) {
            for ev in events {
                let delivered = hub.deliver(Topic::Room(*room), &ev);
                replayed += delivered.recipients;
                if let Some(changed) = delivered.policy_changed {
                    policies.evict(changed);
                }
                if let Some(ended) = delivered.ended {
                    directory.evict(ended);
                    policies.evict(ended);
                    bus.sync(Topic::Room(ended));
                }
            }
        }
    }
    tracing::info!(rooms = rooms.len(), queued = replayed, "replayed room backlogs after a pub/sub reconnect");
    Ok(())
}

async fn dispatch(
    mut stream: redis::aio::PubSubStream,
    redis: RedisHandle,
    hub: Arc<Hub>,
    rooms: Arc<RoomDirectory>,
    policies: Arc<Policies>,
    bus: Bus,
    dead: oneshot::Sender<()>,
) {
    while let Some(msg) = stream.next().await {
        let Some(topic) = topic_of(&redis, msg.get_channel_name()) else { continue };
        let delivered = hub.deliver(topic, msg.get_payload_bytes());
        metrics::counter!("signaling_events_delivered_total").increment(delivered.recipients as u64);
        if let Some(changed) = delivered.policy_changed {
            policies.evict(changed);
            // A removal may have taken the last local member out.
            bus.sync(Topic::Room(changed));
        }
        if let Some(room) = delivered.ended {
            rooms.evict(room);
            policies.evict(room);
            bus.sync(Topic::Room(room));
        }
    }
    let _ = dead.send(());
}
