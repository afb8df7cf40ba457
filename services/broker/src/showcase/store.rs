//! PostgreSQL rows of `showcases` (migration `0020_showcases.sql`).
//!
//! Transitions are conditional on the status (`where status = 'scheduled'`, `'live'`), and the
//! scheduler claims due rows with `for update skip locked`, so concurrent brokers never start,
//! advance or end a showcase twice.

use super::input::SegmentInput;
use crate::domain::ShowcaseStatus;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgExecutor, Postgres, Transaction};
use tandem_shared::ids::{RoomId, ShowcaseId, UserId};
use uuid::Uuid;

/// A row of `showcases`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ShowcaseRow {
    pub(crate) showcase_id: ShowcaseId,
    pub(crate) title: String,
    pub(crate) description: String,
    pub(crate) starts_at: DateTime<Utc>,
    pub(crate) artists: Vec<Uuid>,
    pub(crate) artist_handles: Vec<String>,
    pub(crate) segments: Json<Vec<SegmentInput>>,
    pub(crate) created_by: UserId,
    pub(crate) status: ShowcaseStatus,
    pub(crate) room_id: Option<RoomId>,
    pub(crate) segment_index: Option<i32>,
    pub(crate) segment_started_at: Option<DateTime<Utc>>,
    pub(crate) segment_ends_at: Option<DateTime<Utc>>,
    pub(crate) started_at: Option<DateTime<Utc>>,
    pub(crate) ended_at: Option<DateTime<Utc>>,
    pub(crate) cancel_reason: Option<String>,
    pub(crate) ai: Option<serde_json::Value>,
    pub(crate) sequence: i32,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

impl ShowcaseRow {
    /// The artist hosting the room (the first).
    pub(crate) fn host(&self) -> UserId {
        self.artists.first().copied().map(UserId).unwrap_or_default()
    }

    /// Whether `user` is one of the artists.
    pub(crate) fn is_artist(&self, user: UserId) -> bool {
        self.artists.contains(&user.0)
    }

    /// The segment running now, if live.
    pub(crate) fn current_segment(&self) -> Option<SegmentInput> {
        let i = usize::try_from(self.segment_index?).ok()?;
        self.segments.0.get(i).copied()
    }
}

const COLS: &str = "showcase_id, title, description, starts_at, artists, artist_handles, segments, created_by, status,
    room_id, segment_index, segment_started_at, segment_ends_at, started_at, ended_at, cancel_reason, ai, sequence,
    created_at, updated_at";

/// What a new showcase holds.
pub(crate) struct Insert<'a> {
    pub(crate) id: ShowcaseId,
    pub(crate) title: &'a str,
    pub(crate) description: &'a str,
    pub(crate) starts_at: DateTime<Utc>,
    pub(crate) artists: &'a [UserId],
    pub(crate) handles: &'a [String],
    pub(crate) segments: &'a [SegmentInput],
    pub(crate) created_by: UserId,
    pub(crate) ai: Option<serde_json::Value>,
}

/// Insert a scheduled showcase.
///
/// # Errors
/// Database errors.
pub(crate) async fn insert(db: impl PgExecutor<'_>, s: &Insert<'_>) -> Result<ShowcaseRow, sqlx::Error> {
    let artists: Vec<Uuid> = s.artists.iter().map(|a| a.0).collect();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into showcases (showcase_id, title, description, starts_at, artists, artist_handles, segments, created_by, ai)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning {COLS}"
    )))
    .bind(s.id)
    .bind(s.title)
    .bind(s.description)
    .bind(s.starts_at)
    .bind(artists)
    .bind(s.handles)
    .bind(Json(s.segments))
    .bind(s.created_by)
    .bind(&s.ai)
    .fetch_one(db)
    .await
}

/// One showcase.
///
/// # Errors
/// Database errors.
pub(crate) async fn get(db: impl PgExecutor<'_>, id: ShowcaseId) -> Result<Option<ShowcaseRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("select {COLS} from showcases where showcase_id = $1")))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// One showcase, locked for this transaction (waiting for another holder).
///
/// # Errors
/// Database errors.
pub(crate) async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    id: ShowcaseId,
) -> Result<Option<ShowcaseRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("select {COLS} from showcases where showcase_id = $1 for update")))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

/// Showcases starting in `[from, to)`, earliest first.
///
/// # Errors
/// Database errors.
pub(crate) async fn between(
    db: impl PgExecutor<'_>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<ShowcaseRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from showcases where starts_at >= $1 and starts_at < $2 order by starts_at, showcase_id limit $3"
    )))
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The changes of a `PATCH`, already checked.
pub(crate) struct Update {
    pub(crate) title: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) starts_at: Option<DateTime<Utc>>,
    pub(crate) artists: Option<(Vec<UserId>, Vec<String>)>,
    pub(crate) segments: Option<Vec<SegmentInput>>,
}

/// Apply `u` to a scheduled showcase and bump its iCalendar sequence; `None` when it is not
/// scheduled (any more).
///
/// # Errors
/// Database errors.
pub(crate) async fn update(
    db: impl PgExecutor<'_>,
    id: ShowcaseId,
    u: Update,
) -> Result<Option<ShowcaseRow>, sqlx::Error> {
    let (artists, handles) = match u.artists {
        Some((a, h)) => (Some(a.iter().map(|x| x.0).collect::<Vec<Uuid>>()), Some(h)),
        None => (None, None),
    };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update showcases set title = coalesce($2, title), description = coalesce($3, description),
             starts_at = coalesce($4, starts_at), artists = coalesce($5, artists),
             artist_handles = coalesce($6, artist_handles), segments = coalesce($7, segments),
             sequence = sequence + 1, updated_at = now()
         where showcase_id = $1 and status = 'scheduled' returning {COLS}"
    )))
    .bind(id)
    .bind(u.title)
    .bind(u.description)
    .bind(u.starts_at)
    .bind(artists)
    .bind(handles)
    .bind(u.segments.map(Json))
    .fetch_optional(db)
    .await
}

/// Cancel a scheduled showcase; `None` when it is not scheduled.
///
/// # Errors
/// Database errors.
pub(crate) async fn cancel(
    db: impl PgExecutor<'_>,
    id: ShowcaseId,
    reason: &str,
) -> Result<Option<ShowcaseRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update showcases set status = 'cancelled', cancel_reason = $2, sequence = sequence + 1, updated_at = now()
         where showcase_id = $1 and status = 'scheduled' returning {COLS}"
    )))
    .bind(id)
    .bind(reason)
    .fetch_optional(db)
    .await
}

/// Scheduled showcases whose start has come (within the last `window_secs`), locked for this
/// transaction; rows another broker holds are skipped.
///
/// # Errors
/// Database errors.
pub(crate) async fn claim_due_start(
    tx: &mut Transaction<'_, Postgres>,
    window_secs: f64,
) -> Result<Option<ShowcaseRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from showcases
         where status = 'scheduled' and starts_at <= now() and starts_at > now() - make_interval(secs => $1)
           and (start_failed_at is null or start_failed_at < now() - interval '1 minute')
         order by starts_at limit 1 for update skip locked"
    )))
    .bind(window_secs)
    .fetch_optional(&mut **tx)
    .await
}

/// A live showcase whose segment has run out, locked for this transaction.
///
/// # Errors
/// Database errors.
pub(crate) async fn claim_due_segment(tx: &mut Transaction<'_, Postgres>) -> Result<Option<ShowcaseRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from showcases where status = 'live' and segment_ends_at <= now()
         order by segment_ends_at limit 1 for update skip locked"
    )))
    .fetch_optional(&mut **tx)
    .await
}

/// Mark a showcase live in `room`, segment 0 running until `ends_at`.
///
/// # Errors
/// Database errors.
pub(crate) async fn mark_live(
    tx: &mut Transaction<'_, Postgres>,
    id: ShowcaseId,
    room: RoomId,
    ends_at: DateTime<Utc>,
) -> Result<ShowcaseRow, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update showcases set status = 'live', room_id = $2, segment_index = 0, segment_started_at = now(),
             segment_ends_at = $3, started_at = now(), updated_at = now()
         where showcase_id = $1 returning {COLS}"
    )))
    .bind(id)
    .bind(room)
    .bind(ends_at)
    .fetch_one(&mut **tx)
    .await
}

/// Move a live showcase to segment `index`, running until `ends_at`.
///
/// # Errors
/// Database errors.
pub(crate) async fn set_segment(
    tx: &mut Transaction<'_, Postgres>,
    id: ShowcaseId,
    index: i32,
    ends_at: DateTime<Utc>,
) -> Result<ShowcaseRow, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update showcases set segment_index = $2, segment_started_at = now(), segment_ends_at = $3, updated_at = now()
         where showcase_id = $1 and status = 'live' returning {COLS}"
    )))
    .bind(id)
    .bind(index)
    .bind(ends_at)
    .fetch_one(&mut **tx)
    .await
}

/// End a live showcase; `None` when it was not live.
///
/// # Errors
/// Database errors.
pub(crate) async fn mark_ended(db: impl PgExecutor<'_>, id: ShowcaseId) -> Result<Option<ShowcaseRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update showcases set status = 'ended', ended_at = now(), segment_ends_at = null, updated_at = now()
         where showcase_id = $1 and status = 'live' returning {COLS}"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// End the live showcase of a room that ended (by its host, an operator, or the reaper).
///
/// # Errors
/// Database errors.
pub(crate) async fn end_of_room(db: impl PgExecutor<'_>, room: RoomId) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update showcases set status = 'ended', ended_at = now(), segment_ends_at = null, updated_at = now()
         where room_id = $1 and status = 'live'",
    )
    .bind(room)
    .execute(db)
    .await
    .map(|_| ())
}

/// End live showcases whose room has ended (a missed [`end_of_room`]).
///
/// # Errors
/// Database errors.
pub(crate) async fn end_orphans(db: impl PgExecutor<'_>) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "update showcases s set status = 'ended', ended_at = r.ended_at, segment_ends_at = null, updated_at = now()
         from rooms r where s.status = 'live' and r.room_id = s.room_id and r.status = 'ended'",
    )
    .execute(db)
    .await
    .map(|r| r.rows_affected())
}

/// Live rooms of showcases that ended (the room's end failed after the showcase's).
///
/// # Errors
/// Database errors.
pub(crate) async fn live_rooms_of_ended(db: impl PgExecutor<'_>) -> Result<Vec<RoomId>, sqlx::Error> {
    sqlx::query_scalar(
        "select r.room_id from showcases s join rooms r on r.room_id = s.room_id
         where s.status = 'ended' and r.status = 'live' limit 20",
    )
    .fetch_all(db)
    .await
}
