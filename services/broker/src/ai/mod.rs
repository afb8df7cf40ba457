//! AI effects on rooms: a Daydream StreamDiffusion stream per AI broadcast, or, without a
//! Daydream key, `local` mode (the creator's browser applies a preview effect from the same
//! prompt and params; no external calls). Both modes keep the same state in `room_ai` and
//! announce every change as `ai.updated` on the room channel.
//!
//! - [`params`]: the one table of allowed params, their bounds and which need a reload.
//! - [`daydream`]: the Daydream HTTP client.
//! - [`store`]: the `room_ai` rows.
//! - [`audio`]: the artist's audio level mapped onto params, updates coalesced to a rate.
//! - [`view`]: the `ai` of a room's JSON.
//! - [`control`]: [`tandem_shared::hooks::AiControl`] for signaling (audience rounds, audio).

pub mod audio;
pub mod control;
pub mod daydream;
pub mod params;
pub mod store;
pub mod view;

use crate::domain::{AiMode, RoomStatus};
use crate::error::BrokerError;
use daydream::{DaydreamClient, DaydreamError, DaydreamStream, PipelineHealth};
use params::{ModelId, Params};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;
use store::AiRow;
use tandem_shared::events::{publish, room_channel, AiSource, BusEvent};
use tandem_shared::ids::RoomId;
use tandem_shared::server::Core;
use utoipa::ToSchema;

/// `ai` of `POST /v1/rooms`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AiRequest {
    /// What the pipeline draws (1–500 characters).
    pub prompt: String,
    /// One of the StreamDiffusion models; `stabilityai/sd-turbo` when absent.
    #[serde(default)]
    pub model_id: Option<ModelId>,
    /// Further StreamDiffusion params from the params table (`docs/ai.md`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub params: Option<Map<String, Value>>,
}

/// Body of `PATCH /v1/rooms/{id}/ai`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AiChange {
    /// A new prompt.
    #[serde(default)]
    pub prompt: Option<String>,
    /// Another model (needs a reload).
    #[serde(default)]
    pub model_id: Option<ModelId>,
    /// Params to change (others keep their values).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub params: Option<Map<String, Value>>,
    /// Accept a pipeline reload (a visible gap) for params that need one.
    #[serde(default)]
    pub reload: bool,
}

/// The AI side of the broker.
#[derive(Clone)]
pub struct AiEngine {
    core: Core,
    daydream: Option<Arc<DaydreamClient>>,
    pub(crate) audio: Arc<audio::AudioGate>,
}

impl From<DaydreamError> for BrokerError {
    fn from(e: DaydreamError) -> Self {
        BrokerError::Ai(e)
    }
}

impl AiEngine {
    /// An engine; Daydream calls happen only with `daydream` settings.
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(
        core: Core,
        daydream: Option<daydream::DaydreamSettings>,
        max_updates_per_sec: u32,
    ) -> anyhow::Result<Self> {
        let daydream = daydream.map(DaydreamClient::new).transpose()?.map(Arc::new);
        Ok(Self { core, daydream, audio: Arc::new(audio::AudioGate::new(max_updates_per_sec)) })
    }

    /// The mode new AI rooms run in.
    pub fn mode(&self) -> AiMode {
        if self.daydream.is_some() {
            AiMode::Daydream
        } else {
            AiMode::Local
        }
    }

    /// The Daydream client, when configured.
    pub fn daydream(&self) -> Option<&DaydreamClient> {
        self.daydream.as_deref()
    }

    /// Validate a room's AI request and, with Daydream, create its stream. The row is not
    /// stored: the caller inserts it with the room, or [`AiEngine::discard`]s it.
    ///
    /// # Errors
    /// 400 for bad params; Daydream's refusal (502) or unavailability (503).
    pub async fn prepare(&self, room_id: RoomId, req: AiRequest) -> Result<AiRow, BrokerError> {
        let mut map = req.params.unwrap_or_default();
        if map.contains_key("prompt") || map.contains_key("model_id") {
            return Err(BrokerError::Validation("give prompt and model_id beside params, not inside".into()));
        }
        map.insert("prompt".into(), Value::String(req.prompt));
        let params = Params::parse(map).map_err(BrokerError::Validation)?;
        let model_id = req.model_id.unwrap_or_default();
        let mut row =
            AiRow { room_id, mode: self.mode(), model_id, params, stream_id: None, whip_url: None, playback_id: None };
        if let Some(dd) = &self.daydream {
            let DaydreamStream { id, whip_url, output_playback_id } =
                dd.create_stream(&format!("tandem-{room_id}"), &full_params(&row)).await?;
            row.stream_id = Some(id);
            row.whip_url = Some(whip_url);
            row.playback_id = Some(output_playback_id);
        }
        Ok(row)
    }

    /// Delete the stream of a row that will not be used (best effort; logged).
    pub async fn discard(&self, row: &AiRow) {
        if let (Some(dd), Some(id)) = (&self.daydream, &row.stream_id) {
            if let Err(e) = dd.delete_stream(id).await {
                tracing::error!(room_id = %row.room_id, stream_id = %id, error.message = %e, "failed to delete a rolled-back Daydream stream");
            }
        }
    }

    /// Change a live room's AI: validate against the table, refuse reload-only changes unless
    /// `reload`, send one update to Daydream, store, announce.
    ///
    /// # Errors
    /// 400 `invalid_input` / `reload_required`; 409 `room_ended`; Daydream errors.
    pub async fn change(&self, row: &AiRow, change: AiChange, source: AiSource) -> Result<AiRow, BrokerError> {
        let mut changes = change.params.unwrap_or_default();
        if changes.contains_key("prompt") || changes.contains_key("model_id") {
            return Err(BrokerError::Validation("give prompt and model_id beside params, not inside".into()));
        }
        if let Some(p) = change.prompt {
            changes.insert("prompt".into(), Value::String(p));
        }
        let model = change.model_id.unwrap_or(row.model_id);
        if changes.is_empty() && model == row.model_id {
            return Err(BrokerError::Validation("nothing to change: give prompt, model_id or params".into()));
        }
        let (merged, mut reload) = row.params.merge(&changes).map_err(BrokerError::Validation)?;
        reload |= model != row.model_id;
        if reload && !change.reload {
            return Err(BrokerError::Refused {
                code: "reload_required",
                message: "these changes restart the AI pipeline (a visible gap); send \"reload\": true to apply them"
                    .into(),
            });
        }
        self.apply(row, model, merged, changes, None, source)
            .await?
            .ok_or(BrokerError::conflict("room_ended", "the room has ended"))
    }

    /// Store and send a change; `None` when the room is no longer live or `apply_key` was
    /// already applied.
    pub(crate) async fn apply(
        &self,
        row: &AiRow,
        model: ModelId,
        merged: Params,
        changes: Map<String, Value>,
        apply_key: Option<&str>,
        source: AiSource,
    ) -> Result<Option<AiRow>, BrokerError> {
        let Some(updated) = store::set_params(&self.core.db, row.room_id, model, &merged, apply_key).await? else {
            return Ok(None);
        };
        if let (Some(dd), Some(id)) = (&self.daydream, &row.stream_id) {
            let mut body = changes;
            body.insert("model_id".into(), Value::String(model.as_str().into()));
            if let Err(e) = dd.update_stream(id, &body).await {
                // Keep the stored state what Daydream runs (and let a retry under the key apply).
                if let Err(db) = store::revert(&self.core.db, row).await {
                    tracing::error!(room_id = %row.room_id, error.message = %db, "failed to revert AI params");
                }
                return Err(e.into());
            }
        }
        self.announce(&updated, source).await;
        Ok(Some(updated))
    }

    /// Tell the room its AI changed.
    pub(crate) async fn announce(&self, row: &AiRow, source: AiSource) {
        let event = BusEvent::AiUpdated {
            room_id: row.room_id,
            prompt: row.params.prompt().to_string(),
            params: Value::Object(row.params.0.clone()),
            source,
        };
        let redis = &self.core.redis;
        if let Err(e) = publish(redis, &room_channel(redis, row.room_id), &event).await {
            tracing::warn!(room_id = %row.room_id, error.cause_chain = ?e, "failed to publish ai.updated");
        }
    }

    /// The pipeline's health (Daydream rooms; `None` when unknown).
    pub async fn health(&self, row: &AiRow) -> Option<PipelineHealth> {
        let (dd, id) = (self.daydream.as_ref()?, row.stream_id.as_ref()?);
        match dd.status(id).await {
            Ok(h) => h,
            Err(e) => Some(PipelineHealth { last_error: Some(e.to_string()), ..PipelineHealth::default() }),
        }
    }

    /// After a room ended: delete its Daydream stream; a failure is retried by the reaper.
    pub async fn room_ended(&self, room: RoomId) {
        self.audio.forget(room);
        let row = match store::get(&self.core.db, room).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(%room, error.message = %e, "failed to load a room's AI to delete its stream");
                return;
            }
        };
        self.delete_stream(&row).await;
    }

    /// Delete a row's Daydream stream and record it.
    pub(crate) async fn delete_stream(&self, row: &AiRow) {
        let Some(id) = &row.stream_id else { return };
        let Some(dd) = &self.daydream else {
            tracing::warn!(room_id = %row.room_id, "a Daydream stream is left but no Daydream key is configured here");
            return;
        };
        match dd.delete_stream(id).await {
            Ok(()) | Err(DaydreamError::Rejected { .. }) => {
                if let Err(e) = store::mark_stream_deleted(&self.core.db, row.room_id).await {
                    tracing::error!(room_id = %row.room_id, error.message = %e, "failed to record a deleted Daydream stream");
                }
            }
            Err(e) => {
                tracing::error!(room_id = %row.room_id, error.message = %e, "failed to delete a Daydream stream (the reaper retries)");
            }
        }
    }

    /// Reaper: delete the streams of rooms that ended a while ago and still hold one.
    ///
    /// # Errors
    /// Database errors.
    pub async fn sweep(&self) -> Result<(), BrokerError> {
        if self.daydream.is_none() {
            return Ok(());
        }
        for row in store::undeleted_streams_of_ended_rooms(&self.core.db, 10.0).await? {
            self.delete_stream(&row).await;
        }
        Ok(())
    }

    /// The room's AI as other services see it.
    pub(crate) fn summary(row: &AiRow, status: RoomStatus) -> tandem_shared::hooks::AiSummary {
        tandem_shared::hooks::AiSummary {
            room_id: row.room_id,
            prompt: row.params.prompt().to_string(),
            active: status == RoomStatus::Live,
        }
    }
}

/// `model_id` plus every param: what a new stream is created with.
fn full_params(row: &AiRow) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("model_id".into(), Value::String(row.model_id.as_str().into()));
    m.extend(row.params.0.clone());
    m
}
