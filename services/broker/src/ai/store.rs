//! PostgreSQL rows of `room_ai`: a room's AI effect (broker-owned).

use super::params::{ModelId, Params};
use crate::domain::AiMode;
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};
use tandem_shared::ids::RoomId;

/// A row of `room_ai`.
#[derive(Clone)]
pub struct AiRow {
    /// The room.
    pub room_id: RoomId,
    /// Daydream or local.
    pub mode: AiMode,
    /// The model.
    pub model_id: ModelId,
    /// The params, `prompt` among them.
    pub params: Params,
    /// Daydream's stream id.
    pub stream_id: Option<String>,
    /// Daydream's WHIP URL (a credential: only for the host, never logged).
    pub whip_url: Option<String>,
    /// Livepeer playback id of the AI output.
    pub playback_id: Option<String>,
}

impl std::fmt::Debug for AiRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AiRow")
            .field("room_id", &self.room_id)
            .field("mode", &self.mode)
            .field("stream_id", &self.stream_id)
            .finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
struct Raw {
    room_id: RoomId,
    mode: String,
    model_id: String,
    params: sqlx::types::Json<Params>,
    stream_id: Option<String>,
    whip_url: Option<String>,
    playback_id: Option<String>,
}

impl TryFrom<Raw> for AiRow {
    type Error = sqlx::Error;
    fn try_from(r: Raw) -> Result<Self, Self::Error> {
        let decode = |e: String| sqlx::Error::Decode(e.into());
        Ok(Self {
            room_id: r.room_id,
            mode: r.mode.parse().map_err(decode)?,
            model_id: ModelId::parse(&r.model_id).map_err(decode)?,
            params: r.params.0,
            stream_id: r.stream_id,
            whip_url: r.whip_url,
            playback_id: r.playback_id,
        })
    }
}

const COLS: &str = "room_id, mode, model_id, params, stream_id, whip_url, playback_id";

/// Insert a room's AI row (in the room's transaction).
///
/// # Errors
/// Database errors.
pub(crate) async fn insert(tx: &mut Transaction<'_, Postgres>, row: &AiRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into room_ai (room_id, mode, model_id, params, stream_id, whip_url, playback_id)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(row.room_id)
    .bind(row.mode.as_str())
    .bind(row.model_id.as_str())
    .bind(sqlx::types::Json(&row.params))
    .bind(&row.stream_id)
    .bind(&row.whip_url)
    .bind(&row.playback_id)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// A room's AI row.
///
/// # Errors
/// Database errors.
pub(crate) async fn get(db: impl PgExecutor<'_>, room: RoomId) -> Result<Option<AiRow>, sqlx::Error> {
    let raw: Option<Raw> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("select {COLS} from room_ai where room_id = $1")))
            .bind(room)
            .fetch_optional(db)
            .await?;
    raw.map(AiRow::try_from).transpose()
}

/// Store new params (and model) of a live room's AI; with `apply_key`, only if that key was not
/// applied yet. Returns the row when it changed.
///
/// # Errors
/// Database errors.
pub(crate) async fn set_params(
    db: &PgPool,
    room: RoomId,
    model: ModelId,
    params: &Params,
    apply_key: Option<&str>,
) -> Result<Option<AiRow>, sqlx::Error> {
    let raw: Option<Raw> = sqlx::query_as(
        "update room_ai a set params = $2, model_id = $3, apply_key = coalesce($4, a.apply_key), updated_at = now()
         from rooms r
         where a.room_id = $1 and r.room_id = a.room_id and r.status = 'live'
           and ($4::text is null or a.apply_key is distinct from $4)
         returning a.room_id, a.mode, a.model_id, a.params, a.stream_id, a.whip_url, a.playback_id",
    )
    .bind(room)
    .bind(sqlx::types::Json(params))
    .bind(model.as_str())
    .bind(apply_key)
    .fetch_optional(db)
    .await?;
    raw.map(AiRow::try_from).transpose()
}

/// Put back `row`'s params and model after Daydream refused a change, forgetting the applied key.
///
/// # Errors
/// Database errors.
pub(crate) async fn revert(db: &PgPool, row: &AiRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update room_ai set params = $2, model_id = $3, apply_key = null, updated_at = now() where room_id = $1",
    )
    .bind(row.room_id)
    .bind(sqlx::types::Json(&row.params))
    .bind(row.model_id.as_str())
    .execute(db)
    .await
    .map(|_| ())
}

/// Record that a room's Daydream stream was deleted.
///
/// # Errors
/// Database errors.
pub(crate) async fn mark_stream_deleted(db: &PgPool, room: RoomId) -> Result<(), sqlx::Error> {
    sqlx::query("update room_ai set stream_deleted_at = now() where room_id = $1 and stream_deleted_at is null")
        .bind(room)
        .execute(db)
        .await
        .map(|_| ())
}

/// Daydream streams of rooms that ended more than `secs` ago and were never deleted.
///
/// # Errors
/// Database errors.
pub(crate) async fn undeleted_streams_of_ended_rooms(db: &PgPool, secs: f64) -> Result<Vec<AiRow>, sqlx::Error> {
    let raw: Vec<Raw> = sqlx::query_as(
        "select a.room_id, a.mode, a.model_id, a.params, a.stream_id, a.whip_url, a.playback_id
         from room_ai a join rooms r on r.room_id = a.room_id
         where a.stream_id is not null and a.stream_deleted_at is null
           and r.status = 'ended' and r.ended_at < now() - make_interval(secs => $1)
         limit 100",
    )
    .bind(secs)
    .fetch_all(db)
    .await?;
    raw.into_iter().map(AiRow::try_from).collect()
}
