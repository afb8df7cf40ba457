//! Stream providers: who hosts the media of a slot.
//!
//! A [`StreamProvider`] creates and deletes one stream per slot and tells a slot's publish and
//! play endpoints. [`livepeer::LivepeerProvider`] talks to Livepeer Studio; [`relay::RelayProvider`]
//! hands out WHIP/WHEP URLs of Tandem's relay with signed per-slot tokens. Rooms in `p2p` mode
//! have no provider stream at all.

pub mod livepeer;
pub mod relay;

use crate::domain::{MediaMode, RoomKind, SlotName};
use serde::Serialize;
use tandem_shared::ids::{RoomId, SlotId, UserId};
use utoipa::ToSchema;

/// What a provider needs to create the stream of one slot.
#[derive(Debug, Clone, Copy)]
pub struct StreamSpec {
    /// The room.
    pub room_id: RoomId,
    /// The slot.
    pub slot_id: SlotId,
    /// `host` or `guest`.
    pub slot: SlotName,
    /// Broadcast or private (private streams skip transcoding renditions).
    pub kind: RoomKind,
    /// The creator hosting the room (Livepeer `creatorId`, for usage per creator).
    pub host_id: UserId,
}

/// A stream a provider created for a slot.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderStream {
    /// The provider's id of the stream (needed to delete it).
    pub stream_id: String,
    /// Public playback id, when the provider has one.
    pub playback_id: Option<String>,
    /// Publish credential (Livepeer stream key); handed only to the slot's publisher, never logged.
    pub stream_key: Option<String>,
}

impl std::fmt::Debug for ProviderStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderStream")
            .field("stream_id", &self.stream_id)
            .field("playback_id", &self.playback_id)
            .field("stream_key", &self.stream_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A slot as providers see it when telling endpoints.
#[derive(Debug, Clone, Copy)]
pub struct SlotRef<'a> {
    /// The room.
    pub room_id: RoomId,
    /// The slot.
    pub slot_id: SlotId,
    /// The provider's stream, if any.
    pub stream_id: Option<&'a str>,
    /// Public playback id, if any.
    pub playback_id: Option<&'a str>,
    /// Publish credential, if any.
    pub stream_key: Option<&'a str>,
    /// Broadcast or private (private playback may be gated).
    pub kind: RoomKind,
    /// Who the endpoint is for (relay tokens are bound to this user).
    pub user: UserId,
    /// The slot's publish generation (relay publish tokens carry it).
    pub generation: u32,
}

/// Where and how the slot's publisher sends media.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct PublishEndpoint {
    /// WHIP endpoint: POST an SDP offer (`Content-Type: application/sdp`).
    pub whip_url: String,
    /// RTMP fallback (OBS), when the provider has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtmp_url: Option<String>,
    /// Bearer token for the WHIP request, when the provider needs one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Unix seconds after which `token` is refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<i64>,
}

/// Where and how the slot's media is played.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct PlayEndpoint {
    /// WHEP endpoint (low latency WebRTC playback).
    pub whep_url: String,
    /// HLS playlist (scale), when the provider has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hls_url: Option<String>,
    /// Bearer token for the WHEP request, when the provider needs one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Unix seconds after which `token` is refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<i64>,
}

/// Why a provider call failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Unreachable, timing out, overloaded (5xx/429) after retries: try again later (503).
    #[error("the stream provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request or answered something unexpected (502).
    #[error("the stream provider refused the request: {0}")]
    Rejected(String),
}

/// A stream provider.
#[async_trait::async_trait]
pub trait StreamProvider: Send + Sync + 'static {
    /// The media mode this provider serves.
    fn media(&self) -> MediaMode;
    /// Create the stream of one slot.
    ///
    /// # Errors
    /// [`ProviderError`].
    async fn create_stream(&self, spec: &StreamSpec) -> Result<ProviderStream, ProviderError>;
    /// Whether streams exist remotely (and so must be deleted one by one on release).
    fn has_remote_streams(&self) -> bool {
        true
    }
    /// Whether the provider sees media arriving on a stream, for reconciling missed webhooks;
    /// `Ok(None)` when the provider cannot tell (or a stream that is gone).
    ///
    /// # Errors
    /// [`ProviderError`].
    async fn stream_active(&self, _stream_id: &str) -> Result<Option<bool>, ProviderError> {
        Ok(None)
    }
    /// Delete a stream (a stream that no longer exists counts as deleted).
    ///
    /// # Errors
    /// [`ProviderError`].
    async fn delete_stream(&self, stream_id: &str) -> Result<(), ProviderError>;
    /// The publish endpoint of a slot, for its publisher.
    fn publish_endpoint(&self, slot: &SlotRef<'_>) -> Option<PublishEndpoint>;
    /// The play endpoint of a slot, for its audience.
    fn play_endpoint(&self, slot: &SlotRef<'_>) -> Option<PlayEndpoint>;
}
