//! The artist's audio level mapped onto declared params, with updates coalesced to at most
//! `TANDEM_AI_MAX_UPDATES_PER_SEC` per room across every broker.
//!
//! Levels arrive up to 10 a second. Each broker keeps the latest level per room; the first one
//! that finds no level waiting starts a flush, which waits for the room's rate slot in Redis
//! (`ai:rate:{room}`, `SET NX PX` of one interval: the key expires by itself) and then applies
//! whatever level is latest by then. Levels arriving meanwhile only replace the waiting one.

use super::params::float_bounds;
use super::{store, AiEngine};
use redis::AsyncCommands;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tandem_shared::events::AiSource;
use tandem_shared::ids::RoomId;

/// How an audio level moves a param: `level` 0 → `low`, 1 → `high` (within the table's bounds).
struct Mapping {
    param: &'static str,
    low: f64,
    high: f64,
    /// On a beat the param jumps to `high`.
    beat_to_high: bool,
}

/// The params audio drives (both apply live, without a reload).
const MAPPINGS: &[Mapping] = &[
    Mapping { param: "guidance_scale", low: 1.0, high: 8.0, beat_to_high: false },
    Mapping { param: "delta", low: 0.3, high: 0.9, beat_to_high: true },
];

/// Longest a flush waits for its room's rate slot before giving up (the next level retries).
const SLOT_WAIT: Duration = Duration::from_secs(5);

/// One audio reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Level {
    /// 0–1.
    pub level: f64,
    /// A beat at this reading.
    pub beat: bool,
}

/// The params a reading sets.
pub(crate) fn map_level(l: Level) -> Map<String, Value> {
    let level = l.level.clamp(0.0, 1.0);
    let mut m = Map::new();
    for map in MAPPINGS {
        let target = if l.beat && map.beat_to_high { map.high } else { map.low + (map.high - map.low) * level };
        let (min, max) = float_bounds(map.param).unwrap_or((map.low, map.high));
        let v = (target.clamp(min, max) * 1000.0).round() / 1000.0;
        m.insert(map.param.into(), Value::from(v));
    }
    m
}

/// Latest readings per room waiting for their rate slot.
pub(crate) struct AudioGate {
    interval: Duration,
    waiting: Mutex<HashMap<RoomId, Level>>,
}

impl AudioGate {
    /// A gate letting `per_sec` updates through per room.
    pub(crate) fn new(per_sec: u32) -> Self {
        Self { interval: Duration::from_millis(1000 / u64::from(per_sec.max(1))), waiting: Mutex::default() }
    }

    /// Keep `l` as the room's latest; true when no reading was waiting (start a flush).
    fn offer(&self, room: RoomId, l: Level) -> bool {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).insert(room, l).is_none()
    }

    fn take(&self, room: RoomId) -> Option<Level> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(&room)
    }

    /// Drop a room's waiting reading (it ended).
    pub(crate) fn forget(&self, room: RoomId) {
        self.take(room);
    }
}

impl AiEngine {
    /// Take an audio reading for a live AI room (the caller checked it is the host's).
    pub(crate) fn audio(&self, room: RoomId, l: Level) {
        if self.audio.offer(room, l) {
            let engine = self.clone();
            tokio::spawn(async move { engine.flush_audio(room).await });
        }
    }

    async fn flush_audio(&self, room: RoomId) {
        let key = self.core.redis.key(format_args!("ai:rate:{room}"));
        let ms = self.audio.interval.as_millis() as u64;
        let deadline = tokio::time::Instant::now() + SLOT_WAIT;
        loop {
            let mut conn = self.core.redis.conn.clone();
            let got: Result<Option<String>, _> =
                redis::cmd("SET").arg(&key).arg(1).arg("NX").arg("PX").arg(ms).query_async(&mut conn).await;
            match got {
                Ok(Some(_)) => break,
                Ok(None) if tokio::time::Instant::now() < deadline => {
                    let left: i64 = conn.pttl(&key).await.unwrap_or(25);
                    tokio::time::sleep(Duration::from_millis(left.clamp(5, 100) as u64)).await;
                }
                Ok(None) => {
                    self.audio.forget(room);
                    return;
                }
                Err(e) => {
                    tracing::warn!(%room, error.message = %e, "no audio rate slot (Redis); dropping the reading");
                    self.audio.forget(room);
                    return;
                }
            }
        }
        let Some(level) = self.audio.take(room) else { return };
        let row = match store::get(&self.core.db, room).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(%room, error.message = %e, "failed to load a room's AI for audio");
                return;
            }
        };
        let changes = map_level(level);
        let merged = match row.params.merge(&changes) {
            Ok((m, _)) => m,
            Err(e) => {
                tracing::error!(%room, error.message = %e, "audio mapping left the params table");
                return;
            }
        };
        if let Err(e) = self.apply(&row, row.model_id, merged, changes, None, AiSource::Audio).await {
            tracing::warn!(%room, error.message = %e, "failed to apply an audio update");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_inside_the_bounds() {
        let m = map_level(Level { level: 0.5, beat: false });
        assert_eq!(m["guidance_scale"], 4.5);
        assert_eq!(m["delta"], 0.6);
        let m = map_level(Level { level: 7.0, beat: true });
        assert_eq!(m["guidance_scale"], 8.0);
        assert_eq!(m["delta"], 0.9);
        let m = map_level(Level { level: -1.0, beat: false });
        assert_eq!(m["guidance_scale"], 1.0);
    }
}
