//! Audience numbers of this node: view spans (a viewer's socket in a broadcast, join to leave)
//! and per-room counts, gathered in the hub without I/O and sent to the broker as one batch per
//! second at most ([`tandem_shared::audience`]); a node with nothing to send still sends an
//! empty batch every [`ALIVE_EVERY`] so the broker can close the spans of a node that died.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tandem_shared::audience::{append, AudienceBatch, RoomCounts, ViewSpan, ALIVE_EVERY};
use tandem_shared::ids::RoomId;

use crate::Node;

/// Most spans kept while the stream cannot be written (older ones are dropped and counted).
const MAX_PENDING_SPANS: usize = 200_000;
/// How often the batch is sent.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// How long a draining node waits for its sockets to leave before its last batch.
const LAST_FLUSH_WAIT: Duration = Duration::from_secs(5);

/// Something counted in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// A chat message.
    Chat,
    /// A tip of this many minor units.
    Tip(i64),
    /// A prompt vote.
    Vote,
}

/// What the hub gathered since the last batch.
#[derive(Debug, Default)]
pub struct Pending {
    spans: Vec<ViewSpan>,
    counts: HashMap<RoomId, RoomCounts>,
}

impl Pending {
    /// Record a span start or end.
    pub(crate) fn span(&mut self, span: ViewSpan) {
        if self.spans.len() >= MAX_PENDING_SPANS {
            metrics::counter!("signaling_audience_spans_dropped_total").increment(1);
            return;
        }
        self.spans.push(span);
    }

    /// Count `what` in `room`.
    pub(crate) fn count(&mut self, room: RoomId, what: Counted) {
        let c = self.counts.entry(room).or_insert_with(|| RoomCounts { room_id: room, ..Default::default() });
        match what {
            Counted::Chat => c.chat += 1,
            Counted::Tip(amount) => {
                c.tips += 1;
                c.tip_amount = c.tip_amount.saturating_add(amount);
            }
            Counted::Vote => c.votes += 1,
        }
    }

    /// Put `older` (not sent) back in front of what was gathered since.
    pub(crate) fn merge_older(&mut self, older: Pending) {
        let mut spans = older.spans;
        spans.append(&mut self.spans);
        if spans.len() > MAX_PENDING_SPANS {
            let drop = spans.len() - MAX_PENDING_SPANS;
            metrics::counter!("signaling_audience_spans_dropped_total").increment(drop as u64);
            spans.drain(..drop);
        }
        self.spans = spans;
        for (room, c) in older.counts {
            let mine = self.counts.entry(room).or_insert_with(|| RoomCounts { room_id: room, ..Default::default() });
            mine.chat += c.chat;
            mine.tips += c.tips;
            mine.tip_amount = mine.tip_amount.saturating_add(c.tip_amount);
            mine.votes += c.votes;
        }
    }

    fn is_empty(&self) -> bool {
        self.spans.is_empty() && self.counts.is_empty()
    }
}

/// Send what the hub gathered; keep it for the next try when Redis cannot take it.
async fn flush(node: &Node, force: bool) -> bool {
    let pending = node.hub.take_audience();
    if pending.is_empty() && !force {
        return false;
    }
    let batch = AudienceBatch {
        batch_id: uuid::Uuid::new_v4(),
        node: node.settings.node_id.clone(),
        sent_at: chrono::Utc::now().timestamp_millis(),
        spans: pending.spans.clone(),
        counts: pending.counts.values().copied().collect(),
    };
    match append(&node.core.redis, &batch).await {
        Ok(bytes) => {
            metrics::counter!("signaling_audience_batches_total").increment(1);
            metrics::counter!("signaling_audience_spans_total").increment(batch.spans.len() as u64);
            metrics::counter!("signaling_audience_bytes_total").increment(bytes as u64);
            true
        }
        Err(e) => {
            tracing::warn!(error.cause_chain = ?e, "failed to send audience numbers; retrying");
            node.hub.restore_audience(pending);
            false
        }
    }
}

/// Send the node's audience numbers every second until shutdown; then, once its sockets have
/// left (or after a few seconds), the last batch.
pub async fn run(node: Arc<Node>) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_sent = Instant::now();
    loop {
        tokio::select! {
            _ = node.core.shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        if flush(&node, last_sent.elapsed() >= ALIVE_EVERY).await {
            last_sent = Instant::now();
        }
    }
    let deadline = Instant::now() + LAST_FLUSH_WAIT;
    while !node.hub.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    flush(&node, false).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_shared::ids::{ConnectionId, UserId};

    #[test]
    fn counts_add_up_and_unsent_numbers_go_back_in_front() {
        let room = RoomId::new();
        let mut older = Pending::default();
        let span = ViewSpan {
            room_id: room,
            user_id: UserId::new(),
            conn: ConnectionId::new(),
            started_at: 1,
            ended_at: None,
        };
        older.span(span);
        older.count(room, Counted::Chat);
        older.count(room, Counted::Tip(250));
        let mut now = Pending::default();
        now.span(ViewSpan { ended_at: Some(5), ..span });
        now.count(room, Counted::Vote);
        now.count(room, Counted::Tip(50));
        now.merge_older(older);
        assert_eq!(now.spans[0].ended_at, None);
        assert_eq!(now.spans[1].ended_at, Some(5));
        let c = now.counts[&room];
        assert_eq!((c.chat, c.tips, c.tip_amount, c.votes), (1, 2, 300, 1));
    }
}
