//! PostgreSQL access for rooms, slots and private requests.
//!
//! Every state change is a conditional update (`where status = 'live'`, `where status =
//! 'pending'`), so concurrent brokers agree on who made it: exactly one caller gets the row back.

use crate::domain::{MediaMode, RequestStatus, RoomKind, RoomStatus, SlotName, SlotState};
use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};
use tandem_shared::ids::{RequestId, RoomId, SlotId, UserId};

/// A row of `rooms`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoomRow {
    /// The room.
    pub room_id: RoomId,
    /// Broadcast or private.
    pub kind: RoomKind,
    /// Live or ended.
    pub status: RoomStatus,
    /// Media mode.
    pub media: MediaMode,
    /// The creator.
    pub host_id: UserId,
    /// The private guest (fan), if any.
    pub guest_id: Option<UserId>,
    /// Title.
    pub title: String,
    /// Opened at.
    pub created_at: DateTime<Utc>,
    /// Ended at.
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it ended.
    pub end_reason: Option<String>,
    /// Private rooms: the price per minute the fan was quoted and agreed to (0 = free).
    pub price_per_minute: i64,
}

impl RoomRow {
    /// Whether `user` is the host or the private guest.
    pub fn is_participant(&self, user: UserId) -> bool {
        self.host_id == user || self.guest_id == Some(user)
    }
}

/// A row of `room_slots`.
#[derive(Clone, sqlx::FromRow)]
pub struct SlotRow {
    /// The slot.
    pub slot_id: SlotId,
    /// Its room.
    pub room_id: RoomId,
    /// Host or guest.
    pub name: SlotName,
    /// Provider name (a media mode).
    pub provider: MediaMode,
    /// Provider stream id.
    pub provider_stream_id: Option<String>,
    /// Public playback id.
    pub playback_id: Option<String>,
    /// Publish credential; never logged.
    pub stream_key: Option<String>,
    /// Idle or publishing.
    pub state: SlotState,
    /// Released at.
    pub released_at: Option<DateTime<Utc>>,
    /// Publish generation (bumped when a broadcast's stage changes).
    pub generation: i32,
}

impl std::fmt::Debug for SlotRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotRow")
            .field("slot_id", &self.slot_id)
            .field("name", &self.name)
            .field("provider_stream_id", &self.provider_stream_id)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// A new slot to insert with its room.
#[derive(Debug, Clone)]
pub struct NewSlot {
    /// The slot.
    pub slot_id: SlotId,
    /// Host or guest.
    pub name: SlotName,
    /// The provider stream, if the media mode has one.
    pub stream: Option<crate::provider::ProviderStream>,
}

/// A row of `private_requests`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RequestRow {
    /// The request.
    pub request_id: RequestId,
    /// Who asked.
    pub fan_id: UserId,
    /// Who was asked.
    pub creator_id: UserId,
    /// Its state.
    pub status: RequestStatus,
    /// The room, once accepted.
    pub room_id: Option<RoomId>,
    /// Media mode of the room it would open.
    pub media: MediaMode,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Expires at (while pending).
    pub expires_at: DateTime<Utc>,
    /// Answered at.
    pub decided_at: Option<DateTime<Utc>>,
    /// The price per minute the fan was quoted (minor units; 0 = free).
    pub price_per_minute: i64,
}

const ROOM_COLS: &str =
    "room_id, kind, status, media, host_id, guest_id, title, created_at, ended_at, end_reason, price_per_minute";
const SLOT_COLS: &str =
    "slot_id, room_id, name, provider, provider_stream_id, playback_id, stream_key, state, released_at, generation";
const REQUEST_COLS: &str =
    "request_id, fan_id, creator_id, status, room_id, media, created_at, expires_at, decided_at, price_per_minute";

/// Insert a live room and its two slots.
///
/// # Errors
/// Database errors, including `rooms_one_live_per_host` when the host already has a live room.
#[allow(clippy::too_many_arguments)]
pub async fn insert_room(
    tx: &mut Transaction<'_, Postgres>,
    room_id: RoomId,
    kind: RoomKind,
    media: MediaMode,
    host_id: UserId,
    guest_id: Option<UserId>,
    title: &str,
    host_handle: &str,
    price_per_minute: i64,
    slots: &[NewSlot],
) -> Result<RoomRow, sqlx::Error> {
    let room: RoomRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into rooms (room_id, kind, media, host_id, guest_id, title, host_handle, price_per_minute)
         values ($1, $2, $3, $4, $5, $6, $7, $8) returning {ROOM_COLS}"
    )))
    .bind(room_id)
    .bind(kind.as_str())
    .bind(media.as_str())
    .bind(host_id)
    .bind(guest_id)
    .bind(title)
    .bind(host_handle)
    .bind(price_per_minute)
    .fetch_one(&mut **tx)
    .await?;
    for slot in slots {
        sqlx::query(
            "insert into room_slots (slot_id, room_id, name, provider, provider_stream_id, playback_id, stream_key)
             values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(slot.slot_id)
        .bind(room_id)
        .bind(slot.name.as_str())
        .bind(media.as_str())
        .bind(slot.stream.as_ref().map(|s| s.stream_id.clone()))
        .bind(slot.stream.as_ref().and_then(|s| s.playback_id.clone()))
        .bind(slot.stream.as_ref().and_then(|s| s.stream_key.clone()))
        .execute(&mut **tx)
        .await?;
    }
    Ok(room)
}

/// One room.
///
/// # Errors
/// Database errors.
pub async fn room(db: impl PgExecutor<'_>, room_id: RoomId) -> Result<Option<RoomRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("select {ROOM_COLS} from rooms where room_id = $1")))
        .bind(room_id)
        .fetch_optional(db)
        .await
}

/// The live room a creator hosts, if any.
///
/// # Errors
/// Database errors.
pub async fn live_room_of_host(db: &PgPool, host: UserId) -> Result<Option<RoomRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("select {ROOM_COLS} from rooms where host_id = $1 and status = 'live'")))
        .bind(host)
        .fetch_optional(db)
        .await
}

/// The two slots of a room, host first.
///
/// # Errors
/// Database errors.
pub async fn slots(db: &PgPool, room_id: RoomId) -> Result<Vec<SlotRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {SLOT_COLS} from room_slots where room_id = $1 order by name desc"
    )))
    .bind(room_id)
    .fetch_all(db)
    .await
}

/// End a live room: returns the row when this call ended it, `None` when it had already ended
/// (or does not exist). The `where status = 'live'` makes concurrent enders agree.
///
/// # Errors
/// Database errors.
pub async fn mark_ended(db: &PgPool, room_id: RoomId, reason: &str) -> Result<Option<RoomRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update rooms set status = 'ended', ended_at = now(), end_reason = $2
         where room_id = $1 and status = 'live' returning {ROOM_COLS}"
    )))
    .bind(room_id)
    .bind(reason)
    .fetch_optional(db)
    .await
}

/// Record that a slot's stream was released.
///
/// # Errors
/// Database errors.
pub async fn mark_released(db: &PgPool, slot_id: SlotId) -> Result<(), sqlx::Error> {
    sqlx::query("update room_slots set released_at = now() where slot_id = $1 and released_at is null")
        .bind(slot_id)
        .execute(db)
        .await
        .map(|_| ())
}

/// Mark every held slot of a room released (providers without remote streams).
///
/// # Errors
/// Database errors.
pub async fn mark_room_released(db: &PgPool, room_id: RoomId) -> Result<(), sqlx::Error> {
    sqlx::query("update room_slots set released_at = now() where room_id = $1 and released_at is null")
        .bind(room_id)
        .execute(db)
        .await
        .map(|_| ())
}

/// Slots of ended rooms still held (their release failed or the ender crashed).
///
/// # Errors
/// Database errors.
pub async fn unreleased_slots_of_ended_rooms(db: &PgPool, older_than_secs: i64) -> Result<Vec<SlotRow>, sqlx::Error> {
    sqlx::query_as(
        "select s.slot_id, s.room_id, s.name, s.provider, s.provider_stream_id, s.playback_id, s.stream_key,
                s.state, s.released_at, s.generation
         from room_slots s join rooms r on r.room_id = s.room_id
         where s.released_at is null and r.status = 'ended' and r.ended_at < now() - make_interval(secs => $1)
         limit 100",
    )
    .bind(older_than_secs as f64)
    .fetch_all(db)
    .await
}

/// Set a slot's state; returns the room when it changed.
///
/// # Errors
/// Database errors.
pub async fn set_slot_state(db: &PgPool, slot: SlotId, publishing: bool) -> Result<Option<RoomId>, sqlx::Error> {
    let state = if publishing { SlotState::Publishing } else { SlotState::Idle };
    sqlx::query_scalar(
        "update room_slots set state = $2, state_changed_at = now(),
             idle_since = case when $2 = 'idle' then now() else null end
         where slot_id = $1 and released_at is null and state <> $2 returning room_id",
    )
    .bind(slot)
    .bind(state.as_str())
    .fetch_optional(db)
    .await
}

/// The slot of a provider stream id.
///
/// # Errors
/// Database errors.
pub async fn slot_by_stream(db: &PgPool, stream_id: &str) -> Result<Option<SlotId>, sqlx::Error> {
    sqlx::query_scalar("select slot_id from room_slots where provider_stream_id = $1 and released_at is null")
        .bind(stream_id)
        .fetch_optional(db)
        .await
}

/// Whether a slot exists (released or not).
///
/// # Errors
/// Database errors.
pub async fn slot_exists(db: &PgPool, slot: SlotId) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists(select 1 from room_slots where slot_id = $1)").bind(slot).fetch_one(db).await
}

/// A live broadcast in the public list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ListedRoom {
    /// The room.
    pub room_id: RoomId,
    /// Media mode.
    pub media: MediaMode,
    /// The creator.
    pub host_id: UserId,
    /// The creator's handle.
    pub host_handle: String,
    /// Title.
    pub title: String,
    /// Opened at.
    pub created_at: DateTime<Utc>,
}

/// Live broadcasts, newest first.
///
/// # Errors
/// Database errors.
pub async fn live_broadcasts(db: &PgPool, limit: i64) -> Result<Vec<ListedRoom>, sqlx::Error> {
    sqlx::query_as(
        "select r.room_id, r.media, r.host_id, r.host_handle, r.title, r.created_at
         from rooms r
         where r.status = 'live' and r.kind = 'broadcast' order by r.created_at desc limit $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Live rooms for the reaper: id, kind, host, guest, created.
///
/// # Errors
/// Database errors.
pub async fn live_rooms(db: &PgPool) -> Result<Vec<RoomRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("select {ROOM_COLS} from rooms where status = 'live'")))
        .fetch_all(db)
        .await
}

/// Live rooms whose host slot has been idle (after publishing) for longer than `secs`.
///
/// # Errors
/// Database errors.
pub async fn rooms_with_idle_host(db: &PgPool, secs: f64) -> Result<Vec<RoomId>, sqlx::Error> {
    sqlx::query_scalar(
        "select r.room_id from rooms r join room_slots s on s.room_id = r.room_id and s.name = 'host'
         where r.status = 'live' and s.idle_since < now() - make_interval(secs => $1)",
    )
    .bind(secs)
    .fetch_all(db)
    .await
}

/// Publishing slots of live rooms in `media`, for reconciliation with the provider.
///
/// # Errors
/// Database errors.
pub async fn publishing_slots(db: &PgPool, media: MediaMode) -> Result<Vec<SlotRow>, sqlx::Error> {
    sqlx::query_as(
        "select s.slot_id, s.room_id, s.name, s.provider, s.provider_stream_id, s.playback_id, s.stream_key,
                s.state, s.released_at, s.generation
         from room_slots s join rooms r on r.room_id = s.room_id
         where r.status = 'live' and s.provider = $1 and s.state = 'publishing' and s.released_at is null",
    )
    .bind(media.as_str())
    .fetch_all(db)
    .await
}

/// Insert a pending request.
///
/// # Errors
/// Database errors, including `private_requests_one_pending`.
pub async fn insert_request(
    db: &PgPool,
    fan: UserId,
    creator: UserId,
    media: MediaMode,
    ttl_secs: f64,
    price_per_minute: i64,
) -> Result<RequestRow, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into private_requests (request_id, fan_id, creator_id, media, expires_at, price_per_minute)
         values ($1, $2, $3, $4, now() + make_interval(secs => $5), $6) returning {REQUEST_COLS}"
    )))
    .bind(RequestId::new())
    .bind(fan)
    .bind(creator)
    .bind(media.as_str())
    .bind(ttl_secs)
    .bind(price_per_minute)
    .fetch_one(db)
    .await
}

/// One request.
///
/// # Errors
/// Database errors.
pub async fn request(db: &PgPool, id: RequestId) -> Result<Option<RequestRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("select {REQUEST_COLS} from private_requests where request_id = $1")))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Requests a user sent (fan) or received (creator), newest first.
///
/// # Errors
/// Database errors.
pub async fn requests_of(
    db: &PgPool,
    user: UserId,
    as_creator: bool,
    limit: i64,
) -> Result<Vec<RequestRow>, sqlx::Error> {
    let col = if as_creator { "creator_id" } else { "fan_id" };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {REQUEST_COLS} from private_requests where {col} = $1 order by created_at desc limit $2"
    )))
    .bind(user)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Move a pending, unexpired request to `to`; `None` when it was not pending (or expired).
///
/// # Errors
/// Database errors.
pub async fn decide_request(db: &PgPool, id: RequestId, to: RequestStatus) -> Result<Option<RequestRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update private_requests set status = $2, decided_at = now()
         where request_id = $1 and status = 'pending' and expires_at > now() returning {REQUEST_COLS}"
    )))
    .bind(id)
    .bind(to.as_str())
    .fetch_optional(db)
    .await
}

/// Put an accepted request whose room could not be opened back to pending (if not expired).
///
/// # Errors
/// Database errors.
pub async fn reopen_request(db: &PgPool, id: RequestId) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update private_requests set status = case when expires_at > now() then 'pending' else 'expired' end,
             decided_at = null where request_id = $1 and status = 'accepted' and room_id is null",
    )
    .bind(id)
    .execute(db)
    .await
    .map(|_| ())
}

/// Link an accepted request to its room.
///
/// # Errors
/// Database errors.
pub async fn set_request_room(
    tx: &mut Transaction<'_, Postgres>,
    id: RequestId,
    room: RoomId,
) -> Result<RequestRow, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update private_requests set room_id = $2 where request_id = $1 returning {REQUEST_COLS}"
    )))
    .bind(id)
    .bind(room)
    .fetch_one(&mut **tx)
    .await
}

/// Expire due pending requests (at most 500 per call); returns them.
///
/// # Errors
/// Database errors.
pub async fn expire_due_requests(db: &PgPool) -> Result<Vec<RequestRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update private_requests set status = 'expired', decided_at = now()
         where request_id in (select request_id from private_requests
                              where status = 'pending' and expires_at <= now() limit 500 for update skip locked)
           and status = 'pending'
         returning {REQUEST_COLS}"
    )))
    .fetch_all(db)
    .await
}

/// Record that billing confirmed the start of a private room.
///
/// # Errors
/// Database errors.
pub async fn mark_billing_started(db: &PgPool, room_id: RoomId) -> Result<(), sqlx::Error> {
    sqlx::query("update rooms set billing_started_at = now() where room_id = $1 and billing_started_at is null")
        .bind(room_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Live private rooms opened more than `secs` ago whose billing start was never confirmed.
///
/// # Errors
/// Database errors.
pub async fn private_rooms_without_billing(db: &PgPool, secs: f64) -> Result<Vec<RoomRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {ROOM_COLS} from rooms where kind = 'private' and status = 'live' and billing_started_at is null
           and created_at < now() - make_interval(secs => $1) limit 200"
    )))
    .bind(secs)
    .fetch_all(db)
    .await
}

/// Which of `slots` may no longer carry media: released, in an ended room, or unknown.
///
/// # Errors
/// Database errors.
/// Bump the publish generation of a room's `guest` slot (the stage changed); returns the slot
/// and its new generation, or `None` when the room has no such unreleased slot.
///
/// # Errors
/// Database errors.
pub async fn bump_guest_generation(db: &PgPool, room_id: RoomId) -> Result<Option<(SlotId, i32)>, sqlx::Error> {
    sqlx::query_as(
        "update room_slots set generation = generation + 1
         where room_id = $1 and name = 'guest' and released_at is null
         returning slot_id, generation",
    )
    .bind(room_id)
    .fetch_optional(db)
    .await
}

/// Which of `slots` may still carry media (unreleased, room live), with their generation.
///
/// # Errors
/// Database errors.
pub async fn live_slots(db: &PgPool, slots: &[SlotId]) -> Result<Vec<(SlotId, i32)>, sqlx::Error> {
    sqlx::query_as(
        "select s.slot_id, s.generation from room_slots s join rooms r on r.room_id = s.room_id
         where s.slot_id = any($1) and s.released_at is null and r.status = 'live'",
    )
    .bind(slots.iter().map(|s| s.0).collect::<Vec<_>>())
    .fetch_all(db)
    .await
}

pub async fn released_slots(db: &PgPool, slots: &[SlotId]) -> Result<Vec<SlotId>, sqlx::Error> {
    let live: Vec<SlotId> = sqlx::query_scalar(
        "select s.slot_id from room_slots s join rooms r on r.room_id = s.room_id
         where s.slot_id = any($1) and s.released_at is null and r.status = 'live'",
    )
    .bind(slots.iter().map(|s| s.0).collect::<Vec<_>>())
    .fetch_all(db)
    .await?;
    Ok(slots.iter().copied().filter(|s| !live.contains(s)).collect())
}
