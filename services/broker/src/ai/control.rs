//! [`AiControl`] for signaling: audience rounds apply prompts, the host's audio moves params.

use super::audio::Level;
use super::{store, AiEngine};
use crate::broker::Broker;
use crate::domain::RoomStatus;
use crate::error::BrokerError;
use serde_json::{Map, Value};
use tandem_shared::events::AiSource;
use tandem_shared::hooks::{AiControl, AiRefusal, AiSummary};
use tandem_shared::ids::{RoomId, UserId};

fn refused(code: &'static str, message: impl Into<String>) -> AiRefusal {
    AiRefusal::Refused { code, message: message.into() }
}

impl From<BrokerError> for AiRefusal {
    fn from(e: BrokerError) -> Self {
        match e {
            BrokerError::Validation(m) => refused("invalid_value", m),
            BrokerError::Ai(crate::ai::daydream::DaydreamError::Rejected { status, code, message, .. }) => {
                refused("ai_provider_error", format!("Daydream refused the update (HTTP {status} {code}): {message}"))
            }
            other => AiRefusal::Unavailable(anyhow::anyhow!("{other:?}")),
        }
    }
}

#[async_trait::async_trait]
impl AiControl for Broker {
    async fn ai(&self, room: RoomId) -> anyhow::Result<Option<AiSummary>> {
        let Some(row) = store::get(&self.core.db, room).await? else { return Ok(None) };
        let status = crate::store::room(&self.core.db, room).await?.map(|r| r.status).unwrap_or(RoomStatus::Ended);
        Ok(Some(AiEngine::summary(&row, status)))
    }

    async fn apply_prompt(
        &self,
        room: RoomId,
        prompt: &str,
        source: AiSource,
        apply_key: Option<&str>,
    ) -> Result<AiSummary, AiRefusal> {
        let room_row = crate::store::room(&self.core.db, room)
            .await
            .map_err(BrokerError::from)?
            .ok_or_else(|| refused("not_found", "no such room"))?;
        let row = store::get(&self.core.db, room)
            .await
            .map_err(BrokerError::from)?
            .ok_or_else(|| refused("not_found", "this room has no AI effect"))?;
        if room_row.status != RoomStatus::Live {
            return Err(refused("room_ended", "the room has ended"));
        }
        let mut changes = Map::new();
        changes.insert("prompt".into(), Value::String(prompt.trim().to_string()));
        let (merged, _) = row.params.merge(&changes).map_err(|m| refused("invalid_value", m))?;
        match self.ai.apply(&row, row.model_id, merged, changes, apply_key, source).await? {
            Some(updated) => Ok(AiEngine::summary(&updated, RoomStatus::Live)),
            // Already applied under this key (a retried call), or the room just ended.
            None => {
                let now = store::get(&self.core.db, room).await.map_err(BrokerError::from)?;
                let live = crate::store::room(&self.core.db, room)
                    .await
                    .map_err(BrokerError::from)?
                    .is_some_and(|r| r.status == RoomStatus::Live);
                match now {
                    Some(r) if live => Ok(AiEngine::summary(&r, RoomStatus::Live)),
                    _ => Err(refused("room_ended", "the room has ended")),
                }
            }
        }
    }

    async fn audio(&self, room: RoomId, user: UserId, level: f64, beat: bool) -> Result<(), AiRefusal> {
        if !level.is_finite() || !(0.0..=1.0).contains(&level) {
            return Err(refused("invalid_value", "level must be a number from 0 to 1"));
        }
        let room_row = crate::store::room(&self.core.db, room)
            .await
            .map_err(BrokerError::from)?
            .ok_or_else(|| refused("not_found", "no such room"))?;
        if room_row.host_id != user {
            return Err(refused("forbidden", "only the host sends audio"));
        }
        if room_row.status != RoomStatus::Live {
            return Err(refused("room_ended", "the room has ended"));
        }
        if store::get(&self.core.db, room).await.map_err(BrokerError::from)?.is_none() {
            return Err(refused("not_found", "this room has no AI effect"));
        }
        self.ai.audio(room, Level { level, beat });
        Ok(())
    }
}
