//! The `ai` of a room's JSON, built for the caller.

use super::daydream::PipelineHealth;
use super::params::ModelId;
use super::store;
use crate::broker::Broker;
use crate::domain::{AiMode, AiStatus, RoomStatus};
use crate::error::BrokerError;
use crate::provider::{PlayEndpoint, PublishEndpoint};
use crate::store::RoomRow;
use serde::Serialize;
use tandem_shared::ids::UserId;
use utoipa::ToSchema;

/// A room's AI effect as its caller sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AiView {
    /// `daydream` (Daydream AI: the host publishes to `publish`, everyone plays `play`) or
    /// `local` (local preview effect: the host's browser draws it and publishes the room's
    /// `host` slot as usual).
    pub mode: AiMode,
    /// `active` or `ended`.
    pub status: AiStatus,
    /// The model.
    pub model_id: ModelId,
    /// The prompt now.
    pub prompt: String,
    /// Every param now (`prompt` among them).
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// Host only, Daydream mode, live: WHIP endpoint of the AI pipeline (publish the camera here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish: Option<PublishEndpoint>,
    /// Daydream mode, live: where the AI output plays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub play: Option<PlayEndpoint>,
    /// Host only, Daydream mode, live: the pipeline's health.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<PipelineHealth>,
}

/// The AI of `room` for `caller`, if the room has one.
///
/// # Errors
/// Database errors.
pub async fn ai_view(broker: &Broker, room: &RoomRow, caller: UserId) -> Result<Option<AiView>, BrokerError> {
    let Some(row) = store::get(&broker.core.db, room.room_id).await? else { return Ok(None) };
    let live = room.status == RoomStatus::Live;
    let host = room.host_id == caller;
    let base = broker.ai.daydream().map(|d| d.settings().playback_base.clone());
    let play = match (&row.playback_id, base, live) {
        (Some(id), Some(base), true) => Some(PlayEndpoint {
            whep_url: format!("{base}/webrtc/{id}"),
            hls_url: Some(format!("{base}/hls/{id}/index.m3u8")),
            token: None,
            token_expires_at: None,
        }),
        _ => None,
    };
    let publish = match (&row.whip_url, host && live) {
        (Some(url), true) => {
            Some(PublishEndpoint { whip_url: url.clone(), rtmp_url: None, token: None, token_expires_at: None })
        }
        _ => None,
    };
    let health = if host && live { broker.ai.health(&row).await } else { None };
    Ok(Some(AiView {
        mode: row.mode,
        status: if live { AiStatus::Active } else { AiStatus::Ended },
        model_id: row.model_id,
        prompt: row.params.prompt().to_string(),
        params: serde_json::Value::Object(row.params.0.clone()),
        publish,
        play,
        health,
    }))
}
