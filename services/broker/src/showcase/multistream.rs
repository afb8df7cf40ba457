//! Multistream: a showcase pushed to RTMP/RTMPS/SRT destinations (YouTube, Twitch, an internet
//! radio) through Livepeer Studio's multistream API (migration `0023_multistream.sql`).
//!
//! A target's URL holds the destination's stream key. It is sent to Livepeer once, when the
//! target is created (`POST /multistream/target`), and is never stored, returned or logged;
//! Tandem keeps only Livepeer's target id. When the showcase goes live its host stream pushes
//! its source rendition to every target (`POST /stream/{id}/create-multistream-target`);
//! Livepeer's `multistream.connected|error|disconnected` webhooks become each target's status,
//! sent to the artists' sockets as `multistream.status`. Without Livepeer there is no
//! multistream: `409 multistream_unavailable`.

use super::store::ShowcaseRow;
use crate::broker::Broker;
use crate::domain::{MediaMode, ShowcaseStatus, SlotName};
use crate::error::BrokerError;
use crate::provider::livepeer::LivepeerProvider;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tandem_shared::events::{publish, user_channel, BusEvent};
use tandem_shared::ids::{ShowcaseId, UserId};
use utoipa::ToSchema;
use uuid::Uuid;

/// Most targets per showcase.
pub(crate) const MAX_TARGETS: i64 = 5;

/// The destination's protocol (from the URL's scheme).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum Protocol {
    /// `rtmp://`
    Rtmp,
    /// `rtmps://`
    Rtmps,
    /// `srt://`
    Srt,
}

/// Where a target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum TargetStatus {
    /// Not pushing: the showcase is not live.
    Idle,
    /// Added to the live stream; Livepeer has not reported yet.
    Pending,
    /// Livepeer is pushing to it.
    Connected,
    /// Livepeer reports an error pushing to it.
    Error,
    /// Livepeer stopped pushing to it.
    Disconnected,
    /// It could not be added to the live stream.
    Failed,
}

/// Body of `POST /v1/showcases/{id}/multistream`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTarget {
    /// Shown to the artists (1–80 characters), e.g. `YouTube`.
    pub name: String,
    /// `rtmp://`, `rtmps://` or `srt://` URL with the destination's stream key (at most 1,000
    /// characters). Write-only: never returned.
    pub url: String,
}

impl std::fmt::Debug for NewTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewTarget").field("name", &self.name).finish_non_exhaustive()
    }
}

/// A target as the artists see it (never its URL).
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct TargetView {
    /// Target id.
    #[sqlx(rename = "target_id")]
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// `rtmp`, `rtmps` or `srt`.
    pub protocol: Protocol,
    /// `idle`, `pending`, `connected`, `error`, `disconnected` or `failed`.
    pub status: TargetStatus,
    /// When the status last changed.
    pub status_at: DateTime<Utc>,
    /// Created at.
    pub created_at: DateTime<Utc>,
}

/// Body of `GET /v1/showcases/{id}/multistream`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetList {
    /// Oldest first.
    pub targets: Vec<TargetView>,
}

#[derive(sqlx::FromRow)]
struct TargetRow {
    target_id: Uuid,
    livepeer_target_id: String,
    stream_id: Option<String>,
}

const VIEW_COLS: &str = "target_id, name, protocol, status, status_at, created_at";

/// Check a target's name and URL; the protocol comes from the scheme.
fn parse(t: &NewTarget) -> Result<(String, Protocol), BrokerError> {
    let name = t.name.trim();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(BrokerError::Validation("name must be 1 to 80 characters".into()));
    }
    let url = t.url.trim();
    let invalid = || BrokerError::Validation("url must be an rtmp://, rtmps:// or srt:// URL with a host".into());
    if url.len() > 1000 || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid());
    }
    let (scheme, rest) = url.split_once("://").ok_or_else(invalid)?;
    let protocol = match scheme {
        "rtmp" => Protocol::Rtmp,
        "rtmps" => Protocol::Rtmps,
        "srt" => Protocol::Srt,
        _ => return Err(invalid()),
    };
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err(invalid());
    }
    Ok((name.to_string(), protocol))
}

impl Broker {
    /// The Livepeer client, or `409 multistream_unavailable`: multistream goes through Livepeer
    /// Studio, and this deployment's broadcasts must use it.
    fn multistream_client(&self) -> Result<Arc<LivepeerProvider>, BrokerError> {
        match self.livepeer_client() {
            Some(lp) if self.settings.broadcast_media == MediaMode::Livepeer => Ok(lp),
            _ => Err(BrokerError::conflict(
                "multistream_unavailable",
                "multistream needs Livepeer Studio (LIVEPEER_API_KEY with livepeer broadcasts); this deployment has none",
            )),
        }
    }

    /// Add a target to a showcase; pushed at once when it is live.
    ///
    /// # Errors
    /// 409 `multistream_unavailable`, `too_many_targets`, `showcase_ended`; 400 bad name or URL;
    /// provider errors.
    pub(crate) async fn add_target(&self, row: &ShowcaseRow, t: &NewTarget) -> Result<TargetView, BrokerError> {
        let lp = self.multistream_client()?;
        let (name, protocol) = parse(t)?;
        if matches!(row.status, ShowcaseStatus::Ended | ShowcaseStatus::Cancelled) {
            return Err(BrokerError::conflict("showcase_ended", "the showcase has ended or was cancelled"));
        }
        let count: i64 = sqlx::query_scalar(
            "select count(*) from multistream_targets where showcase_id = $1 and deleted_at is null",
        )
        .bind(row.showcase_id)
        .fetch_one(&self.core.db)
        .await?;
        if count >= MAX_TARGETS {
            return Err(BrokerError::conflict("too_many_targets", "a showcase has at most 5 multistream targets"));
        }
        let label = format!("tandem-{}-{name}", row.showcase_id);
        let lp_id = lp.create_multistream_target(&label, t.url.trim()).await?;
        let id = Uuid::new_v4();
        let inserted = sqlx::query(
            "insert into multistream_targets (target_id, showcase_id, name, protocol, livepeer_target_id)
             values ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(row.showcase_id)
        .bind(&name)
        .bind(protocol)
        .bind(&lp_id)
        .execute(&self.core.db)
        .await;
        if let Err(e) = inserted {
            if let Err(del) = lp.delete_multistream_target(&lp_id).await {
                tracing::error!(target_id = %lp_id, error.message = %del, "failed to delete an unrecorded multistream target");
            }
            return Err(e.into());
        }
        tracing::info!(showcase_id = %row.showcase_id, target_id = %id, ?protocol, "multistream target added");
        if row.status == ShowcaseStatus::Live {
            self.push_targets(row).await;
        }
        self.target(row.showcase_id, id).await?.ok_or(BrokerError::NotFound("target"))
    }

    /// One target of a showcase.
    async fn target(&self, showcase: ShowcaseId, id: Uuid) -> Result<Option<TargetView>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select {VIEW_COLS} from multistream_targets where showcase_id = $1 and target_id = $2 and deleted_at is null"
        )))
        .bind(showcase)
        .bind(id)
        .fetch_optional(&self.core.db)
        .await
    }

    /// The targets of a showcase.
    pub(crate) async fn targets(&self, showcase: ShowcaseId) -> Result<Vec<TargetView>, BrokerError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select {VIEW_COLS} from multistream_targets where showcase_id = $1 and deleted_at is null order by created_at"
        )))
        .bind(showcase)
        .fetch_all(&self.core.db)
        .await?)
    }

    /// Remove a target: from the live stream, then from Livepeer.
    ///
    /// # Errors
    /// 404 unknown; provider errors (the target stays).
    pub(crate) async fn remove_target(&self, showcase: ShowcaseId, id: Uuid) -> Result<(), BrokerError> {
        let lp = self.multistream_client()?;
        let row: TargetRow = sqlx::query_as(
            "select target_id, livepeer_target_id, stream_id from multistream_targets
             where showcase_id = $1 and target_id = $2 and deleted_at is null",
        )
        .bind(showcase)
        .bind(id)
        .fetch_optional(&self.core.db)
        .await?
        .ok_or(BrokerError::NotFound("target"))?;
        if let Some(stream) = &row.stream_id {
            lp.remove_stream_target(stream, &row.livepeer_target_id).await?;
        }
        lp.delete_multistream_target(&row.livepeer_target_id).await?;
        sqlx::query("update multistream_targets set deleted_at = now() where target_id = $1")
            .bind(row.target_id)
            .execute(&self.core.db)
            .await?;
        Ok(())
    }

    /// Push a live showcase's host stream to each of its targets not pushed yet (at start, and
    /// when a target is added while live). Failures mark the target `failed`; the show goes on.
    pub(crate) async fn push_targets(&self, row: &ShowcaseRow) {
        let (Ok(lp), Some(room)) = (self.multistream_client(), row.room_id) else { return };
        let stream = match crate::store::slots(&self.core.db, room).await {
            Ok(slots) => slots.into_iter().find(|s| s.name == SlotName::Host).and_then(|s| s.provider_stream_id),
            Err(e) => {
                tracing::error!(%room, error.message = %e, "failed to load the host slot for multistream");
                return;
            }
        };
        let Some(stream) = stream else { return };
        let pending: Vec<TargetRow> = match sqlx::query_as(
            "select target_id, livepeer_target_id, stream_id from multistream_targets
             where showcase_id = $1 and deleted_at is null and stream_id is distinct from $2",
        )
        .bind(row.showcase_id)
        .bind(&stream)
        .fetch_all(&self.core.db)
        .await
        {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(showcase_id = %row.showcase_id, error.message = %e, "failed to load multistream targets");
                return;
            }
        };
        for t in pending {
            let status = match lp.add_stream_target(&stream, &t.livepeer_target_id).await {
                Ok(()) => TargetStatus::Pending,
                Err(e) => {
                    tracing::error!(target_id = %t.target_id, error.message = %e, "failed to push to a multistream target");
                    TargetStatus::Failed
                }
            };
            let stream_id = (status == TargetStatus::Pending).then_some(stream.as_str());
            let saved = sqlx::query(
                "update multistream_targets set status = $2, stream_id = $3, status_at = now() where target_id = $1",
            )
            .bind(t.target_id)
            .bind(status)
            .bind(stream_id)
            .execute(&self.core.db)
            .await;
            if let Err(e) = saved {
                tracing::error!(target_id = %t.target_id, error.message = %e, "failed to record a multistream target's status");
            }
            self.announce_target(row.showcase_id, t.target_id).await;
        }
    }

    /// A `multistream.*` webhook: record the target's status and tell the artists.
    ///
    /// # Errors
    /// Database errors (Livepeer retries the delivery).
    pub(crate) async fn multistream_event(&self, event: &str, livepeer_target: &str) -> Result<(), BrokerError> {
        let status = match event {
            "multistream.connected" => TargetStatus::Connected,
            "multistream.error" => TargetStatus::Error,
            "multistream.disconnected" => TargetStatus::Disconnected,
            _ => return Ok(()),
        };
        let row: Option<(Uuid, ShowcaseId)> = sqlx::query_as(
            "update multistream_targets set status = $2, status_at = now()
             where livepeer_target_id = $1 and deleted_at is null returning target_id, showcase_id",
        )
        .bind(livepeer_target)
        .bind(status)
        .fetch_optional(&self.core.db)
        .await?;
        if let Some((target, showcase)) = row {
            tracing::info!(%showcase, target_id = %target, ?status, "multistream target status");
            self.announce_target(showcase, target).await;
        }
        Ok(())
    }

    /// Send a target's status to every artist's sockets (`notice` `multistream.status`).
    async fn announce_target(&self, showcase: ShowcaseId, target: Uuid) {
        let (Ok(Some(view)), Ok(Some(row))) =
            (self.target(showcase, target).await, super::store::get(&self.core.db, showcase).await)
        else {
            return;
        };
        let ev = BusEvent::Notice {
            event: "multistream.status".into(),
            data: serde_json::json!({"showcase_id": showcase, "target": view}),
        };
        let redis = &self.core.redis;
        for artist in &row.artists {
            if let Err(e) = publish(redis, &user_channel(redis, UserId(*artist)), &ev).await {
                tracing::warn!(%showcase, error.cause_chain = ?e, "failed to announce a multistream status");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(url: &str) -> NewTarget {
        NewTarget { name: "YouTube".into(), url: url.into() }
    }

    #[test]
    fn urls_are_rtmp_rtmps_or_srt_with_a_host_and_never_debug_printed() {
        assert_eq!(parse(&t("rtmp://a.rtmp.youtube.com/live2/key")).unwrap().1, Protocol::Rtmp);
        assert_eq!(parse(&t("rtmps://live.twitch.tv/app/key")).unwrap().1, Protocol::Rtmps);
        assert_eq!(parse(&t("srt://radio.example:9000?streamid=k")).unwrap().1, Protocol::Srt);
        for bad in ["http://x/y", "rtmp://", "rtmp:///key", "rtmp://a b/c", "ftp://x", "rtmp//x"] {
            assert!(parse(&t(bad)).is_err(), "{bad}");
        }
        assert!(!format!("{:?}", t("rtmp://h/secret")).contains("secret"));
    }
}
