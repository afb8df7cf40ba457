//! PostgreSQL access for bans, mutes, creators' safety settings, abuse reports and the audit
//! log (all broker-owned, migration `0024_safety.sql`).

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::collections::HashMap;
use tandem_shared::audit::{Actor, AuditEntry};
use tandem_shared::ids::{RoomId, SlotId, UserId};

/// Whether `user` is banned from `creator`'s rooms now (by the creator, or platform-wide).
///
/// # Errors
/// Database errors.
pub(crate) async fn is_banned(db: &PgPool, creator: UserId, user: UserId) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "select exists(select 1 from user_bans where user_id = $2 and lifted_at is null
           and (expires_at is null or expires_at > now()) and (creator_id = $1 or creator_id is null))",
    )
    .bind(creator)
    .bind(user)
    .fetch_one(db)
    .await
}

/// The room and host of a slot.
///
/// # Errors
/// Database errors.
pub(crate) async fn slot_host(db: &PgPool, slot: SlotId) -> sqlx::Result<Option<(RoomId, UserId)>> {
    sqlx::query_as(
        "select r.room_id, r.host_id from room_slots s join rooms r on r.room_id = s.room_id where s.slot_id = $1",
    )
    .bind(slot)
    .fetch_optional(db)
    .await
}

/// Record a ban of `user` from `creator`'s rooms (`None`: every room).
///
/// # Errors
/// Database errors.
pub(crate) async fn insert_ban(
    db: &PgPool,
    creator: Option<UserId>,
    user: UserId,
    room: Option<RoomId>,
    reason: &str,
    by: UserId,
    expires_at: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into user_bans (ban_id, creator_id, user_id, room_id, reason, banned_by, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(creator)
    .bind(user)
    .bind(room)
    .bind(reason)
    .bind(by)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Lift `creator`'s active bans of `user`; how many were lifted.
///
/// # Errors
/// Database errors.
pub(crate) async fn lift_bans(db: &PgPool, creator: UserId, user: UserId, by: UserId) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "update user_bans set lifted_at = now(), lifted_by = $3
         where creator_id = $1 and user_id = $2 and lifted_at is null",
    )
    .bind(creator)
    .bind(user)
    .bind(by)
    .execute(db)
    .await?
    .rows_affected())
}

/// A ban as its creator (or an operator) sees it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct BanView {
    /// The banned user.
    #[schema(value_type = String, format = Uuid)]
    pub user_id: UserId,
    /// The room it happened in.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub room_id: Option<RoomId>,
    /// Why.
    pub reason: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Until when (absent: for good).
    pub expires_at: Option<DateTime<Utc>>,
}

/// `creator`'s active bans, newest first (at most 500).
///
/// # Errors
/// Database errors.
pub(crate) async fn bans_of(db: &PgPool, creator: UserId) -> sqlx::Result<Vec<BanView>> {
    sqlx::query_as(
        "select user_id, room_id, reason, created_at, expires_at from user_bans
         where creator_id = $1 and lifted_at is null and (expires_at is null or expires_at > now())
         order by created_at desc limit 500",
    )
    .bind(creator)
    .fetch_all(db)
    .await
}

/// Mute `user` in `room` until `expires_at` (replacing an earlier mute).
///
/// # Errors
/// Database errors.
pub(crate) async fn upsert_mute(
    db: &PgPool,
    room: RoomId,
    user: UserId,
    reason: &str,
    by: UserId,
    expires_at: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into room_mutes (room_id, user_id, reason, muted_by, expires_at) values ($1, $2, $3, $4, $5)
         on conflict (room_id, user_id) do update set reason = excluded.reason, muted_by = excluded.muted_by,
           created_at = now(), expires_at = excluded.expires_at",
    )
    .bind(room)
    .bind(user)
    .bind(reason)
    .bind(by)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Lift a mute; whether there was one.
///
/// # Errors
/// Database errors.
pub(crate) async fn delete_mute(db: &PgPool, room: RoomId, user: UserId) -> sqlx::Result<bool> {
    Ok(sqlx::query("delete from room_mutes where room_id = $1 and user_id = $2")
        .bind(room)
        .bind(user)
        .execute(db)
        .await?
        .rows_affected()
        > 0)
}

/// The room's active mutes.
///
/// # Errors
/// Database errors.
pub(crate) async fn mutes(db: &PgPool, room: RoomId) -> sqlx::Result<Vec<(UserId, Option<DateTime<Utc>>)>> {
    sqlx::query_as(
        "select user_id, expires_at from room_mutes where room_id = $1 and (expires_at is null or expires_at > now())
         limit 10000",
    )
    .bind(room)
    .fetch_all(db)
    .await
}

/// A creator's rules, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct SafetyRow {
    pub slow_mode_secs: i32,
    pub blocked_words: Vec<String>,
    pub blocked_regions: Vec<String>,
}

/// A creator's rules (the defaults when never set).
///
/// # Errors
/// Database errors.
pub(crate) async fn settings(db: &PgPool, creator: UserId) -> sqlx::Result<SafetyRow> {
    Ok(sqlx::query_as(
        "select slow_mode_secs, blocked_words, blocked_regions from creator_safety where creator_id = $1",
    )
    .bind(creator)
    .fetch_optional(db)
    .await?
    .unwrap_or_default())
}

/// Replace a creator's rules.
///
/// # Errors
/// Database errors.
pub(crate) async fn put_settings(db: &PgPool, creator: UserId, row: &SafetyRow) -> sqlx::Result<()> {
    sqlx::query(
        "insert into creator_safety (creator_id, slow_mode_secs, blocked_words, blocked_regions) values ($1, $2, $3, $4)
         on conflict (creator_id) do update set slow_mode_secs = excluded.slow_mode_secs,
           blocked_words = excluded.blocked_words, blocked_regions = excluded.blocked_regions, updated_at = now()",
    )
    .bind(creator)
    .bind(row.slow_mode_secs)
    .bind(&row.blocked_words)
    .bind(&row.blocked_regions)
    .execute(db)
    .await?;
    Ok(())
}

/// The blocked regions of each of `creators` that has any.
///
/// # Errors
/// Database errors.
pub(crate) async fn blocked_regions(db: &PgPool, creators: &[UserId]) -> sqlx::Result<HashMap<UserId, Vec<String>>> {
    let rows: Vec<(UserId, Vec<String>)> = sqlx::query_as(
        "select creator_id, blocked_regions from creator_safety
         where creator_id = any($1) and cardinality(blocked_regions) > 0",
    )
    .bind(creators.iter().map(|c| c.0).collect::<Vec<_>>())
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Decline `fan`'s pending requests to `creator`; the ids declined.
///
/// # Errors
/// Database errors.
pub(crate) async fn decline_pending(
    db: &PgPool,
    creator: UserId,
    fan: UserId,
) -> sqlx::Result<Vec<tandem_shared::ids::RequestId>> {
    sqlx::query_scalar(
        "update private_requests set status = 'declined', decided_at = now()
         where creator_id = $1 and fan_id = $2 and status = 'pending' returning request_id",
    )
    .bind(creator)
    .bind(fan)
    .fetch_all(db)
    .await
}

/// Append an audit entry (once per `dedupe_key` when the entry's details carry one).
///
/// # Errors
/// Database errors.
pub(crate) async fn append_audit(db: &PgPool, e: &AuditEntry) -> sqlx::Result<()> {
    let (kind, actor) = match e.actor {
        Actor::User { user_id } => ("user", Some(user_id)),
        Actor::Stripe => ("stripe", None),
    };
    let dedupe = e.details.get("idempotency_key").and_then(|k| k.as_str()).map(str::to_owned);
    let details = if e.details.is_null() { serde_json::json!({}) } else { e.details.clone() };
    sqlx::query(
        "insert into audit_log (actor_kind, actor_id, action, target_user, room_id, reason, service, details, dedupe_key)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict (dedupe_key) do nothing",
    )
    .bind(kind)
    .bind(actor)
    .bind(e.action.as_str())
    .bind(e.target_user)
    .bind(e.room_id)
    .bind(&e.reason)
    .bind(&e.service)
    .bind(details)
    .bind(dedupe)
    .execute(db)
    .await?;
    Ok(())
}

/// One row of the audit log as operators read it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct AuditRow {
    /// Position in the log.
    pub audit_id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// `user` or `stripe`.
    pub actor_kind: String,
    /// The acting user.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub actor_id: Option<UserId>,
    /// What (`ban`, `kick`, `verification_approved`, `payout_executed`, ...).
    pub action: String,
    /// On whom.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub target_user: Option<UserId>,
    /// Where.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub room_id: Option<RoomId>,
    /// Why.
    pub reason: String,
    /// Which service did it.
    pub service: String,
    /// More (durations, amounts, ids).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// Audit rows, newest first, older than `before` (an `audit_id`), optionally of one action or
/// about one user.
///
/// # Errors
/// Database errors.
pub(crate) async fn audit(
    db: &PgPool,
    before: Option<i64>,
    action: Option<&str>,
    user: Option<UserId>,
    limit: i64,
) -> sqlx::Result<Vec<AuditRow>> {
    sqlx::query_as(
        "select audit_id, at, actor_kind, actor_id, action, target_user, room_id, reason, service, details
         from audit_log
         where ($1::bigint is null or audit_id < $1) and ($2::text is null or action = $2)
           and ($3::uuid is null or target_user = $3 or actor_id = $3)
         order by audit_id desc limit $4",
    )
    .bind(before)
    .bind(action)
    .bind(user)
    .bind(limit)
    .fetch_all(db)
    .await
}
