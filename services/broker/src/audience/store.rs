//! PostgreSQL side of audience numbers (migration `0022_audience.sql`).

use super::numbers::Span;
use sqlx::{PgExecutor, PgPool};
use std::collections::HashMap;
use tandem_shared::audience::AudienceBatch;
use tandem_shared::ids::{RoomId, UserId};
use uuid::Uuid;

/// A node that sent nothing for this long is dead: its open spans end at its last batch.
pub(crate) const NODE_DEAD_SECS: f64 = 60.0;

/// Apply one batch in one transaction; false when it was applied before (a redelivery).
///
/// # Errors
/// Database errors (the batch stays pending and is retried).
pub(crate) async fn apply(db: &PgPool, batch: &AudienceBatch) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    let fresh = sqlx::query("insert into audience_batches (batch_id) values ($1) on conflict do nothing")
        .bind(batch.batch_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if fresh == 0 {
        tx.commit().await?;
        return Ok(false);
    }
    sqlx::query(
        "insert into audience_nodes (node, last_batch_at) values ($1, to_timestamp($2 / 1000.0))
         on conflict (node) do update set last_batch_at = greatest(audience_nodes.last_batch_at, excluded.last_batch_at)",
    )
    .bind(&batch.node)
    .bind(batch.sent_at as f64)
    .execute(&mut *tx)
    .await?;
    // One row per (room, socket, start): a start and its end may come in the same batch.
    let mut spans: HashMap<(RoomId, Uuid, i64), (UserId, Option<i64>)> = HashMap::new();
    for s in &batch.spans {
        let e = spans.entry((s.room_id, s.conn.0, s.started_at)).or_insert((s.user_id, None));
        e.1 = e.1.or(s.ended_at);
    }
    if !spans.is_empty() {
        let (mut rooms, mut conns, mut starts, mut users, mut ends) = (vec![], vec![], vec![], vec![], vec![]);
        for ((room, conn, start), (user, end)) in spans {
            rooms.push(room.0);
            conns.push(conn);
            starts.push(start as f64);
            users.push(user.0);
            ends.push(end.map_or(-1.0, |e| e as f64));
        }
        sqlx::query(
            "insert into room_view_spans (room_id, conn_id, started_at, user_id, node, ended_at)
             select r, c, to_timestamp(s / 1000.0), u, $6, case when e < 0 then null else to_timestamp(e / 1000.0) end
             from unnest($1::uuid[], $2::uuid[], $3::float8[], $4::uuid[], $5::float8[]) as t(r, c, s, u, e)
             on conflict (room_id, conn_id, started_at)
             do update set ended_at = coalesce(excluded.ended_at, room_view_spans.ended_at)",
        )
        .bind(rooms)
        .bind(conns)
        .bind(starts)
        .bind(users)
        .bind(ends)
        .bind(&batch.node)
        .execute(&mut *tx)
        .await?;
    }
    if !batch.counts.is_empty() {
        let rooms: Vec<Uuid> = batch.counts.iter().map(|c| c.room_id.0).collect();
        let chat: Vec<i64> = batch.counts.iter().map(|c| c.chat as i64).collect();
        let tips: Vec<i64> = batch.counts.iter().map(|c| c.tips as i64).collect();
        let amount: Vec<i64> = batch.counts.iter().map(|c| c.tip_amount).collect();
        let votes: Vec<i64> = batch.counts.iter().map(|c| c.votes as i64).collect();
        sqlx::query(
            "insert into room_audience_counts as c (room_id, chat_messages, tips, tip_amount, prompt_votes)
             select * from unnest($1::uuid[], $2::int8[], $3::int8[], $4::int8[], $5::int8[])
             on conflict (room_id) do update set chat_messages = c.chat_messages + excluded.chat_messages,
                 tips = c.tips + excluded.tips, tip_amount = c.tip_amount + excluded.tip_amount,
                 prompt_votes = c.prompt_votes + excluded.prompt_votes",
        )
        .bind(rooms)
        .bind(chat)
        .bind(tips)
        .bind(amount)
        .bind(votes)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Forget applied batch ids older than a week (a redelivery comes within minutes).
///
/// # Errors
/// Database errors.
pub(crate) async fn prune(db: &PgPool) -> Result<u64, sqlx::Error> {
    sqlx::query("delete from audience_batches where applied_at < now() - interval '7 days'")
        .execute(db)
        .await
        .map(|r| r.rows_affected())
}

/// The spans of `room`, each open one ended at the room's end, its node's last batch (a dead
/// node), or now.
///
/// # Errors
/// Database errors.
pub(crate) async fn spans(db: impl PgExecutor<'_>, room: RoomId) -> Result<Vec<Span>, sqlx::Error> {
    let rows: Vec<(UserId, i64, i64)> = sqlx::query_as(
        "select s.user_id,
                (extract(epoch from s.started_at) * 1000)::int8,
                (extract(epoch from greatest(s.started_at, coalesce(s.ended_at, least(
                    coalesce(r.ended_at, now()),
                    case when n.last_batch_at < now() - make_interval(secs => $2) then n.last_batch_at else now() end
                )))) * 1000)::int8
         from room_view_spans s
         left join audience_nodes n on n.node = s.node
         left join rooms r on r.room_id = s.room_id
         where s.room_id = $1",
    )
    .bind(room)
    .bind(NODE_DEAD_SECS)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(user, start, end)| Span { user, start, end }).collect())
}

/// Counts of a room from signaling: (chat messages, tips, tip amount, prompt votes).
///
/// # Errors
/// Database errors.
pub(crate) async fn counts(db: impl PgExecutor<'_>, room: RoomId) -> Result<(i64, i64, i64, i64), sqlx::Error> {
    let row: Option<(i64, i64, i64, i64)> = sqlx::query_as(
        "select chat_messages, tips, tip_amount, prompt_votes from room_audience_counts where room_id = $1",
    )
    .bind(room)
    .fetch_optional(db)
    .await?;
    Ok(row.unwrap_or_default())
}
