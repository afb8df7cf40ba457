//! A showcase's life: start (opening its broadcast room), segment changes, end.
//!
//! Every step runs in a transaction holding the showcase's row lock, so an artist pressing
//! "next" while the reaper moves the same showcase on cannot skip a segment: the second waits
//! and then sees the new state. The reaper claims due rows with `skip locked`, so with several
//! brokers each due showcase is started or advanced by exactly one of them.

use super::store::{self, ShowcaseRow};
use crate::broker::Broker;
use crate::domain::{end_reason, ShowcaseStatus};
use crate::error::BrokerError;
use chrono::{Duration, Utc};
use sqlx::{Postgres, Transaction};
use tandem_shared::events::{publish, room_channel, BusEvent};
use tandem_shared::ids::ShowcaseId;

/// A showcase not started within this long after `starts_at` is left for its artist to start.
const AUTO_START_WINDOW_SECS: f64 = 3600.0;
/// Most showcases one reaper pass starts or advances.
const MAX_PER_TICK: usize = 20;

fn minutes(m: u32) -> Duration {
    Duration::minutes(i64::from(m))
}

impl Broker {
    /// Start a scheduled showcase now (its artist or an operator): open its broadcast room,
    /// hosted by the first artist, and run the first segment.
    ///
    /// # Errors
    /// 404 unknown; 409 `showcase_not_scheduled`, `already_live` (the host is live elsewhere);
    /// provider and Daydream errors.
    pub(crate) async fn start_showcase(&self, id: ShowcaseId) -> Result<ShowcaseRow, BrokerError> {
        let mut tx = self.core.db.begin().await?;
        let row = store::lock(&mut tx, id).await?.ok_or(BrokerError::NotFound("showcase"))?;
        if row.status != ShowcaseStatus::Scheduled {
            return Err(BrokerError::conflict(
                "showcase_not_scheduled",
                "the showcase has started, ended or was cancelled",
            ));
        }
        self.open_showcase(tx, row).await
    }

    /// Open the room of a locked, scheduled showcase and mark it live; the room is ended again
    /// when the showcase cannot be marked.
    async fn open_showcase(
        &self,
        mut tx: Transaction<'_, Postgres>,
        row: ShowcaseRow,
    ) -> Result<ShowcaseRow, BrokerError> {
        let ai = match row.ai.clone() {
            Some(v) => Some(
                serde_json::from_value::<crate::ai::AiRequest>(v)
                    .map_err(|e| BrokerError::Validation(format!("the showcase's AI effect is invalid: {e}")))?,
            ),
            None => None,
        };
        let first = row.segments.0.first().copied().ok_or_else(|| anyhow::anyhow!("a showcase without segments"))?;
        let (room, _) = self.open_broadcast(row.host(), &row.title, self.settings.broadcast_media, ai).await?;
        let marked = async {
            let live =
                store::mark_live(&mut tx, row.showcase_id, room.room_id, Utc::now() + minutes(first.minutes)).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(live)
        }
        .await;
        match marked {
            Ok(live) => {
                tracing::info!(showcase_id = %row.showcase_id, room_id = %room.room_id, "showcase started");
                metrics::counter!("broker_showcases_started_total").increment(1);
                self.announce_segment(&live).await;
                self.push_targets(&live).await;
                Ok(live)
            }
            Err(e) => {
                if let Err(end) = self.end_room(room.room_id, end_reason::SHOWCASE_ENDED).await {
                    tracing::error!(room_id = %room.room_id, error.cause_chain = ?end, "failed to end the room of a showcase that could not start");
                }
                Err(e.into())
            }
        }
    }

    /// The artist (or an operator) moves a live showcase to its next segment now; after the
    /// last one the showcase ends.
    ///
    /// # Errors
    /// 404 unknown; 409 `showcase_not_live`.
    pub(crate) async fn next_segment(&self, id: ShowcaseId) -> Result<ShowcaseRow, BrokerError> {
        let mut tx = self.core.db.begin().await?;
        let row = store::lock(&mut tx, id).await?.ok_or(BrokerError::NotFound("showcase"))?;
        if row.status != ShowcaseStatus::Live {
            return Err(BrokerError::conflict("showcase_not_live", "the showcase is not live"));
        }
        self.advance(tx, row).await
    }

    /// Run the segment after the current one of a locked, live showcase, or end it.
    async fn advance(&self, mut tx: Transaction<'_, Postgres>, row: ShowcaseRow) -> Result<ShowcaseRow, BrokerError> {
        let next = row.segment_index.unwrap_or(0) + 1;
        let seg = usize::try_from(next).ok().and_then(|i| row.segments.0.get(i).copied());
        match seg {
            Some(seg) => {
                let updated =
                    store::set_segment(&mut tx, row.showcase_id, next, Utc::now() + minutes(seg.minutes)).await?;
                tx.commit().await?;
                self.announce_segment(&updated).await;
                Ok(updated)
            }
            None => {
                let ended = store::mark_ended(&mut *tx, row.showcase_id).await?;
                tx.commit().await?;
                self.end_showcase_room(&row).await?;
                Ok(ended.unwrap_or(row))
            }
        }
    }

    /// End a live showcase and its room now (its artist or an operator).
    ///
    /// # Errors
    /// 404 unknown; 409 `showcase_not_live`.
    pub(crate) async fn end_showcase(&self, id: ShowcaseId) -> Result<ShowcaseRow, BrokerError> {
        let mut tx = self.core.db.begin().await?;
        let row = store::lock(&mut tx, id).await?.ok_or(BrokerError::NotFound("showcase"))?;
        if row.status != ShowcaseStatus::Live {
            return Err(BrokerError::conflict("showcase_not_live", "the showcase is not live"));
        }
        let ended = store::mark_ended(&mut *tx, id).await?;
        tx.commit().await?;
        self.end_showcase_room(&row).await?;
        Ok(ended.unwrap_or(row))
    }

    async fn end_showcase_room(&self, row: &ShowcaseRow) -> Result<(), BrokerError> {
        if let Some(room) = row.room_id {
            self.end_room(room, end_reason::SHOWCASE_ENDED).await?;
        }
        tracing::info!(showcase_id = %row.showcase_id, "showcase ended");
        Ok(())
    }

    /// Tell the room which segment runs now (best effort: the showcase's JSON has it too).
    async fn announce_segment(&self, row: &ShowcaseRow) {
        let (Some(room_id), Some(seg), Some(index), Some(ends_at)) =
            (row.room_id, row.current_segment(), row.segment_index, row.segment_ends_at)
        else {
            return;
        };
        let event = BusEvent::SegmentStarted {
            room_id,
            showcase_id: row.showcase_id,
            index: u32::try_from(index).unwrap_or(0),
            kind: seg.kind,
            ends_at: ends_at.timestamp_millis(),
        };
        if let Err(e) = publish(&self.core.redis, &room_channel(&self.core.redis, room_id), &event).await {
            tracing::warn!(%room_id, error.cause_chain = ?e, "failed to announce segment.started");
        }
    }
}

/// One scheduler pass (from the reaper): start showcases whose time has come, move live ones
/// whose segment ran out, end those whose room ended without them, and end the rooms of ended
/// showcases still live (their end failed).
///
/// # Errors
/// Database errors (the next pass tries again).
pub(crate) async fn tick(broker: &Broker) -> anyhow::Result<()> {
    for _ in 0..MAX_PER_TICK {
        let mut tx = broker.core.db.begin().await?;
        let Some(row) = store::claim_due_start(&mut tx, AUTO_START_WINDOW_SECS).await? else { break };
        let id = row.showcase_id;
        if let Err(e) = broker.open_showcase(tx, row).await {
            // Retried a minute later (e.g. the host was still live in another room).
            tracing::warn!(showcase_id = %id, error.cause_chain = ?e, "automatic showcase start failed");
            sqlx::query("update showcases set start_failed_at = now() where showcase_id = $1")
                .bind(id)
                .execute(&broker.core.db)
                .await?;
        }
    }
    for _ in 0..MAX_PER_TICK {
        let mut tx = broker.core.db.begin().await?;
        let Some(row) = store::claim_due_segment(&mut tx).await? else { break };
        broker.advance(tx, row).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    let orphans = store::end_orphans(&broker.core.db).await?;
    if orphans > 0 {
        tracing::info!(count = orphans, "ended showcases whose room had ended");
    }
    for room in store::live_rooms_of_ended(&broker.core.db).await? {
        broker.end_room(room, end_reason::SHOWCASE_ENDED).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    Ok(())
}
