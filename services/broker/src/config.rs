//! Broker settings read from the environment (see `docs/broker.md` for the table).

use crate::domain::MediaMode;
use anyhow::Context;
use std::time::Duration;

/// Livepeer Studio client settings.
#[derive(Clone)]
pub struct LivepeerSettings {
    /// REST base URL, default `https://livepeer.studio/api`.
    pub api_base: String,
    /// API key (`Authorization: Bearer`); never logged.
    pub api_key: String,
    /// WHIP ingest base; the stream key is appended.
    pub whip_base: String,
    /// RTMP ingest base; the stream key is appended.
    pub rtmp_base: String,
    /// Playback base for WHEP (`/webrtc/{playbackId}`) and HLS (`/hls/{playbackId}/index.m3u8`).
    pub playback_base: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries after the first attempt on 5xx, 429 and network errors.
    pub max_retries: u32,
    /// First backoff; doubles each retry.
    pub backoff: Duration,
    /// Longest `Retry-After` honoured; a longer one fails the call instead of waiting.
    pub max_retry_after: Duration,
    /// Signing key for private rooms' playback (JWT playback policy); without it private
    /// Livepeer streams are playable by anyone who learns their playback id.
    pub playback_signing: Option<PlaybackSigningKey>,
    /// Lifetime of playback JWTs.
    pub playback_jwt_ttl: Duration,
    /// Id of a Livepeer webhook subscribed to `playback.accessControl` and pointing at
    /// `/v1/webhooks/livepeer/access` (`LIVEPEER_ACCESS_WEBHOOK_ID`): when set, every stream
    /// gets the webhook playback policy and viewers present their Tandem play token as
    /// `Livepeer-Access-Key`, so bans and ended rooms stop playback on Livepeer too.
    pub access_webhook_id: Option<String>,
}

/// A Livepeer access-control signing key (`POST /access-control/signing-key`), both halves
/// base64-encoded exactly as the API returns them.
#[derive(Clone)]
pub struct PlaybackSigningKey {
    /// Base64 of the SPKI PEM public key; goes verbatim into the JWT's `pub` claim.
    pub public_key_b64: String,
    /// The ES256 key decoded from the base64 PKCS#8 PEM private key.
    pub encoding: jsonwebtoken::EncodingKey,
}

impl PlaybackSigningKey {
    /// Decode the two base64 halves.
    ///
    /// # Errors
    /// Not base64, not PEM, or not a P-256 key.
    pub fn from_base64(public_key_b64: &str, private_key_b64: &str) -> anyhow::Result<Self> {
        use base64::Engine;
        let pem = base64::engine::general_purpose::STANDARD
            .decode(private_key_b64.trim())
            .context("LIVEPEER_SIGNING_PRIVATE_KEY must be base64 (as the Livepeer API returns it)")?;
        let encoding = jsonwebtoken::EncodingKey::from_ec_pem(&pem)
            .context("LIVEPEER_SIGNING_PRIVATE_KEY must be a base64 PKCS#8 PEM P-256 key")?;
        Ok(Self { public_key_b64: public_key_b64.trim().to_string(), encoding })
    }
}

impl std::fmt::Debug for LivepeerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LivepeerSettings").field("api_base", &self.api_base).finish_non_exhaustive()
    }
}

impl LivepeerSettings {
    /// Defaults for `api_key` against `api_base`.
    pub fn new(api_base: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            api_base: api_base.into().trim_end_matches('/').to_string(),
            api_key: api_key.into(),
            whip_base: "https://playback.livepeer.studio/webrtc".into(),
            rtmp_base: "rtmp://rtmp.livepeer.com/live".into(),
            playback_base: "https://livepeercdn.studio".into(),
            timeout: Duration::from_secs(10),
            max_retries: 3,
            backoff: Duration::from_millis(250),
            max_retry_after: Duration::from_secs(10),
            playback_signing: None,
            playback_jwt_ttl: Duration::from_secs(6 * 3600),
            access_webhook_id: None,
        }
    }
}

/// Everything the broker reads from the environment.
#[derive(Clone, Debug)]
pub struct BrokerSettings {
    /// Livepeer client, when `LIVEPEER_API_KEY` is set.
    pub livepeer: Option<LivepeerSettings>,
    /// Shared secret of the Livepeer webhook (`LIVEPEER_WEBHOOK_SECRET`); webhooks are refused without it.
    pub livepeer_webhook_secret: Option<String>,
    /// Largest clock skew accepted on a webhook timestamp.
    pub webhook_tolerance: Duration,
    /// Media mode of new broadcasts when the request names none.
    pub broadcast_media: MediaMode,
    /// Media mode of new private rooms when the request names none.
    pub private_media: MediaMode,
    /// How long a host or private guest may miss heartbeats before the room ends.
    pub heartbeat_grace: Duration,
    /// How often the reaper looks for dead rooms and expired requests.
    pub reaper_interval: Duration,
    /// How often publishing slots are checked with the provider (missed idle webhooks).
    pub reconcile_interval: Duration,
    /// How long a private request waits for an answer.
    pub request_ttl: Duration,
    /// Lifetime of relay media tokens handed out with a room.
    pub media_token_ttl: Duration,
    /// TTL of a creator's availability lock; refreshed by the host's heartbeats.
    pub lock_ttl: Duration,
    /// TTL of a creator's presence; `PUT /v1/presence` refreshes it.
    pub presence_ttl: Duration,
    /// Daydream client, when `DAYDREAM_API_KEY` is set (AI rooms run `local` without it).
    pub daydream: Option<crate::ai::daydream::DaydreamSettings>,
    /// Most Daydream updates per second per room from audio (`TANDEM_AI_MAX_UPDATES_PER_SEC`).
    pub ai_max_updates_per_sec: u32,
    /// Watching a viewer session needs before it counts as a view (`TANDEM_VIEW_MIN_SECS`).
    pub view_min: Duration,
    /// Longest break inside one viewer session, e.g. a reconnect (`TANDEM_VIEW_GAP_SECS`).
    pub view_gap: Duration,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

fn secs(name: &str, default: u64) -> anyhow::Result<Duration> {
    let n = var(name)
        .map(|v| v.parse::<u64>().with_context(|| format!("{name} must be a number of seconds")))
        .transpose()?;
    Ok(Duration::from_secs(n.unwrap_or(default)))
}

fn media(name: &str) -> anyhow::Result<Option<MediaMode>> {
    var(name).map(|v| v.parse::<MediaMode>().map_err(|e| anyhow::anyhow!("{name}: {e}"))).transpose()
}

impl BrokerSettings {
    /// Defaults with no Livepeer account: everything on the relay.
    pub fn relay_defaults() -> Self {
        Self {
            livepeer: None,
            livepeer_webhook_secret: None,
            webhook_tolerance: Duration::from_secs(300),
            broadcast_media: MediaMode::Relay,
            private_media: MediaMode::Relay,
            heartbeat_grace: Duration::from_secs(30),
            reaper_interval: Duration::from_secs(2),
            reconcile_interval: Duration::from_secs(60),
            request_ttl: Duration::from_secs(60),
            media_token_ttl: Duration::from_secs(6 * 3600),
            lock_ttl: Duration::from_secs(300),
            presence_ttl: Duration::from_secs(12 * 3600),
            daydream: None,
            ai_max_updates_per_sec: 2,
            view_min: Duration::from_secs(5),
            view_gap: Duration::from_secs(60),
        }
    }

    /// Read the environment, applying the documented defaults.
    ///
    /// # Errors
    /// A variable that is set but does not parse, or a media mode that cannot be served.
    pub fn from_env() -> anyhow::Result<Self> {
        let d = Self::relay_defaults();
        let signing = match (var("LIVEPEER_SIGNING_PUBLIC_KEY"), var("LIVEPEER_SIGNING_PRIVATE_KEY")) {
            (Some(public), Some(private)) => Some(PlaybackSigningKey::from_base64(&public, &private)?),
            (None, None) => None,
            _ => anyhow::bail!("set both LIVEPEER_SIGNING_PUBLIC_KEY and LIVEPEER_SIGNING_PRIVATE_KEY, or neither"),
        };
        let livepeer = var("LIVEPEER_API_KEY").map(|key| {
            let mut lp = LivepeerSettings::new(
                var("LIVEPEER_API_BASE").unwrap_or_else(|| "https://livepeer.studio/api".into()),
                key,
            );
            if let Some(v) = var("LIVEPEER_WHIP_BASE") {
                lp.whip_base = v.trim_end_matches('/').into();
            }
            if let Some(v) = var("LIVEPEER_RTMP_BASE") {
                lp.rtmp_base = v.trim_end_matches('/').into();
            }
            if let Some(v) = var("LIVEPEER_PLAYBACK_BASE") {
                lp.playback_base = v.trim_end_matches('/').into();
            }
            lp.playback_signing = signing;
            lp.access_webhook_id = var("LIVEPEER_ACCESS_WEBHOOK_ID");
            lp
        });
        let default_media = if livepeer.is_some() { MediaMode::Livepeer } else { MediaMode::Relay };
        let broadcast_media = media("TANDEM_BROADCAST_MEDIA")?.unwrap_or(default_media);
        let private_media = media("TANDEM_PRIVATE_MEDIA")?.unwrap_or(default_media);
        let grace = secs("TANDEM_HEARTBEAT_GRACE_SECS", 30)?;
        let s = Self {
            livepeer,
            livepeer_webhook_secret: var("LIVEPEER_WEBHOOK_SECRET"),
            webhook_tolerance: secs("LIVEPEER_WEBHOOK_TOLERANCE_SECS", 300)?,
            broadcast_media,
            private_media,
            heartbeat_grace: grace,
            reaper_interval: var("TANDEM_REAPER_INTERVAL_MS")
                .map(|v| v.parse::<u64>().context("TANDEM_REAPER_INTERVAL_MS must be a number"))
                .transpose()?
                .map(Duration::from_millis)
                .unwrap_or_else(|| (grace / 10).clamp(Duration::from_millis(200), d.reaper_interval)),
            reconcile_interval: secs("LIVEPEER_RECONCILE_SECS", 60)?,
            request_ttl: secs("TANDEM_REQUEST_TTL_SECS", 60)?,
            media_token_ttl: secs("TANDEM_MEDIA_TOKEN_TTL_SECS", d.media_token_ttl.as_secs())?,
            lock_ttl: secs("TANDEM_AVAILABILITY_LOCK_SECS", 300)?,
            presence_ttl: secs("TANDEM_PRESENCE_TTL_SECS", d.presence_ttl.as_secs())?,
            daydream: var("DAYDREAM_API_KEY").map(|key| {
                crate::ai::daydream::DaydreamSettings::new(
                    var("DAYDREAM_API_BASE").unwrap_or_else(|| "https://api.daydream.live".into()),
                    key,
                )
            }),
            ai_max_updates_per_sec: var("TANDEM_AI_MAX_UPDATES_PER_SEC")
                .map(|v| v.parse::<u32>().context("TANDEM_AI_MAX_UPDATES_PER_SEC must be a whole number"))
                .transpose()?
                .unwrap_or(d.ai_max_updates_per_sec),
            view_min: secs("TANDEM_VIEW_MIN_SECS", d.view_min.as_secs())?,
            view_gap: secs("TANDEM_VIEW_GAP_SECS", d.view_gap.as_secs())?,
        };
        s.validate()?;
        Ok(s)
    }

    /// Refuse combinations that cannot work.
    ///
    /// # Errors
    /// Livepeer media without an API key, or p2p broadcasts.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.broadcast_media == MediaMode::P2p {
            anyhow::bail!("TANDEM_BROADCAST_MEDIA cannot be p2p: p2p is for private rooms only");
        }
        if self.livepeer.is_none()
            && (self.broadcast_media == MediaMode::Livepeer || self.private_media == MediaMode::Livepeer)
        {
            anyhow::bail!("livepeer media needs LIVEPEER_API_KEY");
        }
        anyhow::ensure!(!self.heartbeat_grace.is_zero(), "TANDEM_HEARTBEAT_GRACE_SECS must be positive");
        anyhow::ensure!(
            (1..=10).contains(&self.ai_max_updates_per_sec),
            "TANDEM_AI_MAX_UPDATES_PER_SEC must be 1 to 10"
        );
        anyhow::ensure!(self.lock_ttl > self.heartbeat_grace, "TANDEM_AVAILABILITY_LOCK_SECS must exceed the grace");
        Ok(())
    }
}
