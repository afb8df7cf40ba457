//! The `relay` provider: slots live on Tandem's own WebRTC relay.
//!
//! Nothing is created remotely: the slot id is the relay's stream id. Publishers get
//! `{public_url}/v1/relay/whip/{slot_id}` and players `{public_url}/v1/relay/whep/{slot_id}`, each
//! with a media token (see [`tandem_shared::media_token`]) the relay verifies on its own, bound to
//! the caller and, for publishing, to the slot's current generation.

use super::{PlayEndpoint, ProviderError, ProviderStream, PublishEndpoint, SlotRef, StreamProvider, StreamSpec};
use crate::domain::{MediaMode, RoomKind};
use std::time::Duration;
use tandem_shared::media_token::{MediaClaims, MediaGrant, MediaKey, MediaScope};

/// Hands out relay URLs and tokens.
#[derive(Debug, Clone)]
pub struct RelayProvider {
    public_url: String,
    key: MediaKey,
    token_ttl: Duration,
}

impl RelayProvider {
    /// A provider for the relay reachable at `public_url`, signing tokens with `key`.
    pub fn new(public_url: &str, key: MediaKey, token_ttl: Duration) -> Self {
        Self { public_url: public_url.trim_end_matches('/').to_string(), key, token_ttl }
    }

    /// A media token of `grant` on `slot` for the slot's caller, with its expiry (also the
    /// access key of Livepeer's access-control webhook).
    pub(crate) fn token(&self, slot: &SlotRef<'_>, grant: MediaGrant) -> (String, i64) {
        let exp = chrono::Utc::now().timestamp() + self.token_ttl.as_secs() as i64;
        let scope = match slot.kind {
            RoomKind::Private => MediaScope::Exclusive,
            RoomKind::Broadcast => MediaScope::Shared,
        };
        let claims = MediaClaims {
            slot_id: slot.slot_id,
            room_id: slot.room_id,
            grant,
            scope,
            user_id: slot.user,
            generation: slot.generation,
            exp,
        };
        (self.key.sign(&claims), exp)
    }
}

#[async_trait::async_trait]
impl StreamProvider for RelayProvider {
    fn media(&self) -> MediaMode {
        MediaMode::Relay
    }

    fn has_remote_streams(&self) -> bool {
        false
    }

    async fn create_stream(&self, spec: &StreamSpec) -> Result<ProviderStream, ProviderError> {
        Ok(ProviderStream { stream_id: spec.slot_id.to_string(), playback_id: None, stream_key: None })
    }

    async fn delete_stream(&self, _stream_id: &str) -> Result<(), ProviderError> {
        // Nothing exists remotely: when a relay room ends the broker announces its slots
        // released (`tandem_shared::slot_release`) and every relay drops their sessions.
        Ok(())
    }

    fn publish_endpoint(&self, slot: &SlotRef<'_>) -> Option<PublishEndpoint> {
        let (token, exp) = self.token(slot, MediaGrant::Publish);
        Some(PublishEndpoint {
            whip_url: format!("{}/v1/relay/whip/{}", self.public_url, slot.slot_id),
            rtmp_url: None,
            token: Some(token),
            token_expires_at: Some(exp),
        })
    }

    fn play_endpoint(&self, slot: &SlotRef<'_>) -> Option<PlayEndpoint> {
        let (token, exp) = self.token(slot, MediaGrant::Play);
        Some(PlayEndpoint {
            whep_url: format!("{}/v1/relay/whep/{}", self.public_url, slot.slot_id),
            hls_url: None,
            token: Some(token),
            token_expires_at: Some(exp),
        })
    }
}
