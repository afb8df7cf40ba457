//! The `livepeer` provider: one Livepeer Studio stream per slot.
//!
//! - `POST {base}/stream` (201 Stream) with a name, low-latency profiles, `creatorId` and the
//!   room/slot in `userTags`; `DELETE {base}/stream/{id}` (204; 404 counts as deleted).
//! - Every call has a timeout and is retried with exponential backoff on network errors, 5xx and
//!   429, honouring `Retry-After` (seconds) up to a cap.
//! - Stream keys are secrets: they are never logged (see [`ProviderStream`]'s `Debug`).
//! - Webhooks: [`verify_webhook`] checks `Livepeer-Signature: t=<ms>,v1=<hex>` where the hex is
//!   HMAC-SHA256 of the raw body with the webhook's shared secret, and that `t` is recent; the
//!   header is bounded and `t` checked before the body is hashed, once.

use super::{PlayEndpoint, ProviderError, ProviderStream, PublishEndpoint, SlotRef, StreamProvider, StreamSpec};
use crate::config::LivepeerSettings;
use crate::domain::{MediaMode, RoomKind};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use tandem_shared::webhook::{hmac_sha256, SignatureError, SignatureHeader};

/// Livepeer Studio client.
#[derive(Debug, Clone)]
pub struct LivepeerProvider {
    http: reqwest::Client,
    settings: LivepeerSettings,
    /// Signs the play tokens viewers present to the access-control webhook (when configured).
    access: Option<super::relay::RelayProvider>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreamBody {
    id: String,
    stream_key: Option<String>,
    playback_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreamStatus {
    #[serde(default)]
    is_active: Option<bool>,
}

#[derive(Deserialize)]
struct ErrorsBody {
    errors: Vec<String>,
}

enum Attempt {
    Done(reqwest::Response),
    Retry { reason: String, wait: Option<Duration> },
    Fail(ProviderError),
}

impl LivepeerProvider {
    /// A client for `settings`.
    ///
    /// # Errors
    /// The HTTP client cannot be built (TLS roots).
    pub fn new(settings: LivepeerSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("tandem-broker/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, settings, access: None })
    }

    /// Sign viewers' access keys with `key` (used only when `access_webhook_id` is set).
    pub fn with_access_tokens(mut self, key: tandem_shared::media_token::MediaKey, ttl: Duration) -> Self {
        self.access = Some(super::relay::RelayProvider::new("", key, ttl));
        self
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.settings.api_base, path)
    }

    /// Send a request built by `build`, retrying per the module rules.
    async fn send(
        &self,
        op: &'static str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ProviderError> {
        let mut attempt = 0u32;
        loop {
            let outcome = match build().bearer_auth(&self.settings.api_key).send().await {
                Ok(res) if res.status().is_success() || res.status() == StatusCode::NOT_FOUND => Attempt::Done(res),
                Ok(res) if res.status().is_server_error() || res.status() == StatusCode::TOO_MANY_REQUESTS => {
                    Attempt::Retry { reason: format!("HTTP {}", res.status().as_u16()), wait: retry_after(&res) }
                }
                Ok(res) => {
                    let status = res.status().as_u16();
                    let detail = res.json::<ErrorsBody>().await.map(|b| b.errors.join("; ")).unwrap_or_default();
                    Attempt::Fail(ProviderError::Rejected(format!("{op}: HTTP {status} {detail}")))
                }
                Err(e) if e.is_timeout() => Attempt::Retry { reason: "timeout".into(), wait: None },
                Err(e) if e.is_connect() || e.is_request() => {
                    Attempt::Retry { reason: "connection failed".into(), wait: None }
                }
                Err(e) => Attempt::Fail(ProviderError::Unavailable(format!("{op}: {}", e.without_url()))),
            };
            match outcome {
                Attempt::Done(res) => return Ok(res),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry { reason, wait } => {
                    if attempt >= self.settings.max_retries {
                        return Err(ProviderError::Unavailable(format!(
                            "{op}: {reason} after {} attempts",
                            attempt + 1
                        )));
                    }
                    let wait = match wait {
                        Some(w) if w > self.settings.max_retry_after => {
                            return Err(ProviderError::Unavailable(format!(
                                "{op}: {reason}, retry after {}s",
                                w.as_secs()
                            )))
                        }
                        Some(w) => w,
                        None => self.backoff(attempt),
                    };
                    tracing::warn!(op, attempt, %reason, wait_ms = wait.as_millis() as u64, "livepeer call failed; retrying");
                    metrics::counter!("broker_livepeer_retries_total", "op" => op).increment(1);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.settings.backoff.saturating_mul(1 << attempt.min(10));
        let jitter = rand::random::<f64>() * 0.5;
        base.mul_f64(1.0 + jitter).min(Duration::from_secs(30))
    }
}

#[derive(Deserialize)]
struct TargetBody {
    id: String,
}

/// Livepeer Studio's multistream API. A target URL carries the destination's stream key: it goes
/// to Livepeer in the create body only, and never into a log line or an error message.
impl LivepeerProvider {
    /// `POST /multistream/target {name, url}` → the target's id.
    ///
    /// # Errors
    /// Livepeer refused or is unreachable (messages never carry the URL).
    pub async fn create_multistream_target(&self, name: &str, url: &str) -> Result<String, ProviderError> {
        let endpoint = self.url("/multistream/target");
        let body = json!({"name": name, "url": url});
        let res = self.send("create_multistream_target", || self.http.post(&endpoint).json(&body)).await;
        let res = res.map_err(|e| redact(e, url))?;
        if res.status() == StatusCode::NOT_FOUND {
            return Err(ProviderError::Rejected("create_multistream_target: HTTP 404".into()));
        }
        let target: TargetBody = res
            .json()
            .await
            .map_err(|_| ProviderError::Rejected("create_multistream_target: unexpected response body".into()))?;
        Ok(target.id)
    }

    /// `DELETE /multistream/target/{id}` (404 counts as deleted).
    ///
    /// # Errors
    /// Livepeer refused or is unreachable.
    pub async fn delete_multistream_target(&self, id: &str) -> Result<(), ProviderError> {
        let endpoint = self.url(&format!("/multistream/target/{id}"));
        self.send("delete_multistream_target", || self.http.delete(&endpoint)).await?;
        Ok(())
    }

    /// `POST /stream/{stream}/create-multistream-target {profile: "source", id}`: push the
    /// stream's source rendition to the target.
    ///
    /// # Errors
    /// Livepeer refused (404: no such stream or target) or is unreachable.
    pub async fn add_stream_target(&self, stream: &str, target: &str) -> Result<(), ProviderError> {
        let endpoint = self.url(&format!("/stream/{stream}/create-multistream-target"));
        let body = json!({"profile": "source", "id": target});
        let res = self.send("add_stream_target", || self.http.post(&endpoint).json(&body)).await?;
        if res.status() == StatusCode::NOT_FOUND {
            return Err(ProviderError::Rejected("add_stream_target: HTTP 404".into()));
        }
        Ok(())
    }

    /// `DELETE /stream/{stream}/multistream/{target}` (404 counts as removed).
    ///
    /// # Errors
    /// Livepeer refused or is unreachable.
    pub async fn remove_stream_target(&self, stream: &str, target: &str) -> Result<(), ProviderError> {
        let endpoint = self.url(&format!("/stream/{stream}/multistream/{target}"));
        self.send("remove_stream_target", || self.http.delete(&endpoint)).await?;
        Ok(())
    }
}

/// An error of a call whose body held `secret`, with any echo of it removed.
fn redact(e: ProviderError, secret: &str) -> ProviderError {
    match e {
        ProviderError::Rejected(m) => ProviderError::Rejected(m.replace(secret, "<redacted>")),
        ProviderError::Unavailable(m) => ProviderError::Unavailable(m.replace(secret, "<redacted>")),
    }
}

/// `Retry-After` in seconds (HTTP dates are not used by Livepeer; they fall back to backoff).
fn retry_after(res: &reqwest::Response) -> Option<Duration> {
    let v = res.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn profiles(kind: RoomKind) -> serde_json::Value {
    let p360 = json!({"name": "360p0", "width": 640, "height": 360, "bitrate": 1_000_000, "fps": 30, "gop": "2.0", "profile": "H264Baseline"});
    match kind {
        // 1-to-1 sessions play the source over WebRTC; one small rendition covers weak links.
        RoomKind::Private => json!([p360]),
        RoomKind::Broadcast => json!([
            p360,
            {"name": "720p0", "width": 1280, "height": 720, "bitrate": 3_000_000, "fps": 30, "gop": "2.0", "profile": "H264Baseline"}
        ]),
    }
}

#[async_trait::async_trait]
impl StreamProvider for LivepeerProvider {
    fn media(&self) -> MediaMode {
        MediaMode::Livepeer
    }

    async fn create_stream(&self, spec: &StreamSpec) -> Result<ProviderStream, ProviderError> {
        let mut body = json!({
            "name": format!("tandem-{}-{}", spec.room_id, spec.slot),
            "profiles": profiles(spec.kind),
            "creatorId": {"type": "unverified", "value": spec.host_id.to_string()},
            "userTags": {
                "tandem_room_id": spec.room_id.to_string(),
                "tandem_slot_id": spec.slot_id.to_string(),
                "tandem_slot": spec.slot.as_str(),
                "tandem_kind": spec.kind.as_str(),
            },
        });
        if let Some(webhook) = &self.settings.access_webhook_id {
            body["playbackPolicy"] = json!({
                "type": "webhook",
                "webhookId": webhook,
                "webhookContext": {"tandem_slot_id": spec.slot_id.to_string()},
            });
        } else if spec.kind == RoomKind::Private && self.settings.playback_signing.is_some() {
            body["playbackPolicy"] = json!({"type": "jwt"});
        }
        let url = self.url("/stream");
        let res = self.send("create_stream", || self.http.post(&url).json(&body)).await?;
        if res.status() == StatusCode::NOT_FOUND {
            return Err(ProviderError::Rejected("create_stream: HTTP 404".into()));
        }
        let stream: StreamBody =
            res.json().await.map_err(|_| ProviderError::Rejected("create_stream: unexpected response body".into()))?;
        if stream.stream_key.is_none() || stream.playback_id.is_none() {
            // Without them the stream is useless: delete it rather than leak it.
            let _ = self.delete_stream(&stream.id).await;
            return Err(ProviderError::Rejected("create_stream: no streamKey or playbackId".into()));
        }
        tracing::info!(stream_id = %stream.id, room_id = %spec.room_id, slot = %spec.slot, "livepeer stream created");
        Ok(ProviderStream { stream_id: stream.id, playback_id: stream.playback_id, stream_key: stream.stream_key })
    }

    /// `GET /stream/{id}` → `isActive`. Livepeer does not send `stream.idle` when it cleans up a
    /// stale stream, so the reaper asks.
    async fn stream_active(&self, stream_id: &str) -> Result<Option<bool>, ProviderError> {
        let url = self.url(&format!("/stream/{stream_id}"));
        let res = self.send("get_stream", || self.http.get(&url)).await?;
        if res.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let status: StreamStatus =
            res.json().await.map_err(|_| ProviderError::Rejected("get_stream: unexpected response body".into()))?;
        Ok(status.is_active)
    }

    async fn delete_stream(&self, stream_id: &str) -> Result<(), ProviderError> {
        let url = self.url(&format!("/stream/{stream_id}"));
        self.send("delete_stream", || self.http.delete(&url)).await?;
        Ok(())
    }

    fn publish_endpoint(&self, slot: &SlotRef<'_>) -> Option<PublishEndpoint> {
        let key = slot.stream_key?;
        Some(PublishEndpoint {
            whip_url: format!("{}/{key}", self.settings.whip_base),
            rtmp_url: Some(format!("{}/{key}", self.settings.rtmp_base)),
            token: None,
            token_expires_at: None,
        })
    }

    /// Private rooms with a signing key get a playback JWT, carried in the URLs as `?jwt=` (the
    /// form Livepeer accepts on WHEP and HLS requests); broadcasts play publicly.
    fn play_endpoint(&self, slot: &SlotRef<'_>) -> Option<PlayEndpoint> {
        let id = slot.playback_id?;
        let base = &self.settings.playback_base;
        if let (Some(_), Some(signer)) = (&self.settings.access_webhook_id, &self.access) {
            // The access key goes in the `Livepeer-Access-Key` header, never in the URL.
            let (token, exp) = signer.token(slot, tandem_shared::media_token::MediaGrant::Play);
            return Some(PlayEndpoint {
                whep_url: format!("{base}/webrtc/{id}"),
                hls_url: Some(format!("{base}/hls/{id}/index.m3u8")),
                token: Some(token),
                token_expires_at: Some(exp),
            });
        }
        let jwt = match (&self.settings.playback_signing, slot.kind) {
            (Some(key), RoomKind::Private) => match playback_jwt(key, id, self.settings.playback_jwt_ttl) {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::error!(error.message = %e, "failed to sign a playback JWT");
                    return None;
                }
            },
            _ => None,
        };
        let query = jwt.as_ref().map(|(t, _)| format!("?jwt={t}")).unwrap_or_default();
        Some(PlayEndpoint {
            whep_url: format!("{base}/webrtc/{id}{query}"),
            hls_url: Some(format!("{base}/hls/{id}/index.m3u8{query}")),
            token: None,
            token_expires_at: jwt.map(|(_, exp)| exp),
        })
    }
}

/// Claims of a Livepeer playback JWT (access-control `jwt` policy).
#[derive(Debug, serde::Serialize, Deserialize)]
pub struct PlaybackClaims {
    /// The playback id; must match the stream.
    pub sub: String,
    /// The signing key's base64 public key, exactly as the API returned it.
    #[serde(rename = "pub")]
    pub public_key: String,
    /// Always `pull`.
    pub action: String,
    /// Issuer.
    pub iss: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Always `none`.
    pub video: String,
}

/// Sign an ES256 playback JWT for `playback_id`; returns it with its expiry.
///
/// # Errors
/// Signing failed.
pub fn playback_jwt(
    key: &crate::config::PlaybackSigningKey,
    playback_id: &str,
    ttl: Duration,
) -> anyhow::Result<(String, i64)> {
    let iat = chrono::Utc::now().timestamp();
    let exp = iat + ttl.as_secs() as i64;
    let claims = PlaybackClaims {
        sub: playback_id.to_string(),
        public_key: key.public_key_b64.clone(),
        action: "pull".into(),
        iss: "tandem".into(),
        iat,
        exp,
        video: "none".into(),
    };
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    Ok((jsonwebtoken::encode(&header, &claims, &key.encoding)?, exp))
}

/// A verified Livepeer webhook delivery.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookDelivery {
    /// Event id; retries of one event share it.
    pub id: String,
    /// `stream.started`, `stream.idle`, ...
    pub event: String,
    /// Send time (Unix ms); equals the signature's `t`.
    pub timestamp: i64,
    /// The stream, for stream events.
    #[serde(default)]
    pub stream: Option<WebhookStream>,
    /// Event details (`multistream.*`: the target).
    #[serde(default)]
    pub payload: Option<serde_json::Value>,
}

impl WebhookDelivery {
    /// The Livepeer multistream target a `multistream.*` event is about (`payload.target.id`,
    /// or `payload.targetId`).
    pub fn multistream_target(&self) -> Option<&str> {
        let p = self.payload.as_ref()?;
        p.get("target").and_then(|t| t.get("id")).or_else(|| p.get("targetId")).and_then(|v| v.as_str())
    }
}

/// The stream of a webhook delivery (without its key).
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookStream {
    /// Livepeer stream id.
    pub id: String,
}

/// Why a webhook delivery was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// No or malformed `Livepeer-Signature`.
    #[error("missing or malformed Livepeer-Signature header")]
    MissingSignature,
    /// The HMAC does not match.
    #[error("invalid webhook signature")]
    BadSignature,
    /// The timestamp is too old or in the future.
    #[error("stale webhook delivery")]
    Stale,
    /// Signed, but not the documented JSON.
    #[error("malformed webhook body")]
    BadBody,
}

impl From<SignatureError> for WebhookError {
    fn from(e: SignatureError) -> Self {
        match e {
            SignatureError::Malformed => WebhookError::MissingSignature,
            SignatureError::Stale => WebhookError::Stale,
            SignatureError::Mismatch => WebhookError::BadSignature,
        }
    }
}

/// First step, before the body is read: parse `Livepeer-Signature` within its bounds (1 KB, 8
/// `v1` entries) and check that `t` is within `tolerance` of `now_ms`.
///
/// # Errors
/// [`WebhookError::MissingSignature`] or [`WebhookError::Stale`].
pub fn check_webhook_header(
    signature_header: Option<&str>,
    now_ms: i64,
    tolerance: Duration,
) -> Result<SignatureHeader, WebhookError> {
    let parsed = SignatureHeader::parse(signature_header.ok_or(WebhookError::MissingSignature)?)?;
    parsed.check_fresh(now_ms, u64::try_from(tolerance.as_millis()).unwrap_or(u64::MAX))?;
    Ok(parsed)
}

/// Second step: the HMAC of the raw `body` with `secret`, computed once and compared with each
/// candidate, then the body's `timestamp` must equal `t` (so the signed body pins the time).
///
/// # Errors
/// [`WebhookError::BadSignature`], [`WebhookError::Stale`] or [`WebhookError::BadBody`].
pub fn verify_webhook_body(
    header: &SignatureHeader,
    secret: &str,
    body: &[u8],
) -> Result<WebhookDelivery, WebhookError> {
    header.check_mac(|_| hmac_sha256(secret.as_bytes(), &[body]))?;
    let delivery: WebhookDelivery = serde_json::from_slice(body).map_err(|_| WebhookError::BadBody)?;
    if delivery.timestamp != header.timestamp {
        return Err(WebhookError::Stale);
    }
    Ok(delivery)
}

/// A verified playback access-control request (`playback.accessControl` webhook).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessRequest {
    /// The key the viewer presented (`Livepeer-Access-Key` / `?accessKey=`).
    pub access_key: String,
    /// Send time (Unix ms); equals the signature's `t`.
    pub timestamp: i64,
    /// The stream's `webhookContext`.
    #[serde(default)]
    pub context: Option<serde_json::Value>,
}

/// Check an access-control request's signature over its body (the header was checked with
/// [`check_webhook_header`]).
///
/// # Errors
/// [`WebhookError`].
pub fn verify_access_body(header: &SignatureHeader, secret: &str, body: &[u8]) -> Result<AccessRequest, WebhookError> {
    header.check_mac(|_| hmac_sha256(secret.as_bytes(), &[body]))?;
    let req: AccessRequest = serde_json::from_slice(body).map_err(|_| WebhookError::BadBody)?;
    if req.timestamp != header.timestamp {
        return Err(WebhookError::Stale);
    }
    Ok(req)
}

/// Both steps at once: [`check_webhook_header`], then [`verify_webhook_body`].
///
/// # Errors
/// [`WebhookError`].
pub fn verify_webhook(
    secret: &str,
    signature_header: Option<&str>,
    body: &[u8],
    now_ms: i64,
    tolerance: Duration,
) -> Result<WebhookDelivery, WebhookError> {
    let header = check_webhook_header(signature_header, now_ms, tolerance)?;
    verify_webhook_body(&header, secret, body)
}

/// Sign `body` the way Livepeer does (tests and tools use it to produce deliveries).
pub fn sign_webhook(secret: &str, body: &[u8], t_ms: i64) -> String {
    format!("t={t_ms},v1={}", hex::encode(hmac_sha256(secret.as_bytes(), &[body])))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOL: Duration = Duration::from_secs(300);

    fn body(t: i64) -> Vec<u8> {
        format!(r#"{{"id":"e1","event":"stream.idle","timestamp":{t},"stream":{{"id":"s1"}}}}"#).into_bytes()
    }

    #[test]
    fn valid_deliveries_verify() {
        let b = body(1_000_000);
        let sig = sign_webhook("s3cret", &b, 1_000_000);
        let d = verify_webhook("s3cret", Some(&sig), &b, 1_000_500, TOL).unwrap();
        assert_eq!(d.event, "stream.idle");
        assert_eq!(d.stream.unwrap().id, "s1");
    }

    #[test]
    fn forged_stale_and_mismatched_deliveries_fail() {
        let b = body(1_000_000);
        let sig = sign_webhook("s3cret", &b, 1_000_000);
        assert_eq!(verify_webhook("other", Some(&sig), &b, 1_000_000, TOL).unwrap_err(), WebhookError::BadSignature);
        assert_eq!(verify_webhook("s3cret", None, &b, 1_000_000, TOL).unwrap_err(), WebhookError::MissingSignature);
        assert_eq!(
            verify_webhook("s3cret", Some("t=1"), &b, 1_000_000, TOL).unwrap_err(),
            WebhookError::MissingSignature
        );
        let late = 1_000_000 + TOL.as_millis() as i64 + 1;
        assert_eq!(verify_webhook("s3cret", Some(&sig), &b, late, TOL).unwrap_err(), WebhookError::Stale);
        // A fresh `t` on an old signed body does not pass: the body's timestamp must match.
        let moved = sig.replace("t=1000000", &format!("t={late}"));
        assert_eq!(verify_webhook("s3cret", Some(&moved), &b, late, TOL).unwrap_err(), WebhookError::Stale);
        let mut tampered = b.clone();
        tampered[10] ^= 1;
        assert_eq!(
            verify_webhook("s3cret", Some(&sig), &tampered, 1_000_000, TOL).unwrap_err(),
            WebhookError::BadSignature
        );
    }

    #[test]
    fn thousands_of_signature_entries_are_refused_before_hashing() {
        let b = body(1_000_000);
        let forged = format!("t=1000000{}", ",v1=".repeat(20_000));
        assert_eq!(
            verify_webhook("s3cret", Some(&forged), &b, 1_000_000, TOL).unwrap_err(),
            WebhookError::MissingSignature
        );
        let padded = format!("{}{}", sign_webhook("s3cret", &b, 1_000_000), ",v1=00".repeat(8));
        assert_eq!(check_webhook_header(Some(&padded), 1_000_000, TOL).unwrap_err(), WebhookError::MissingSignature);
        // A stale header is refused on its own, before the body is read or hashed.
        let sig = sign_webhook("s3cret", &b, 1_000_000);
        assert_eq!(check_webhook_header(Some(&sig), 2_000_000, TOL).unwrap_err(), WebhookError::Stale);
    }
}
