//! HTTP routes: WHIP (RFC 9725) publish and WHEP play of slots, their session resources, and
//! the operator's stats.

use crate::error::RelayError;
use crate::forward::{Holder, SessionId, SessionRole, TokenId};
use crate::session::{Answer, Sessions};
use crate::settings::RelaySettings;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tandem_shared::auth::AuthUser;
use tandem_shared::hooks::Hooks;
use tandem_shared::ids::{Role, SlotId};
use tandem_shared::media_token::{token_digest, MediaGrant, MediaKey, MediaScope, MediaTokenError};
use tandem_shared::redis::RedisHandle;
use uuid::Uuid;

/// Largest SDP offer accepted.
pub const SDP_LIMIT: usize = 64 * 1024;

/// What the handlers share.
pub struct RelayState {
    /// Peer connections and forwarding.
    pub sessions: Arc<Sessions>,
    /// Verifies media tokens.
    pub key: MediaKey,
    /// Relay settings (ICE servers for `Link` headers).
    pub settings: Arc<RelaySettings>,
    /// Set while the node drains: no new sessions.
    pub draining: Arc<AtomicBool>,
    /// Where the broker marks released slots.
    pub redis: RedisHandle,
    /// The broker's room control: whether a slot may still carry media.
    pub hooks: Hooks,
}

/// The relay's write routes and their rate-limit class (per client address: they carry a media
/// token, not an access token). Session counts are bounded separately.
pub const RATE_LIMITED: &[tandem_shared::rate_limit::http::RouteClass] = {
    use tandem_shared::rate_limit::{http::RouteClass, Class};
    &[
        RouteClass::new("POST", "/v1/relay/whip/{slot_id}", Class::Write),
        RouteClass::new("POST", "/v1/relay/whep/{slot_id}", Class::Write),
        RouteClass::new("DELETE", "/v1/relay/whip/{slot_id}/{session_id}", Class::Write),
        RouteClass::new("DELETE", "/v1/relay/whep/{slot_id}/{session_id}", Class::Write),
    ]
};

/// Mount the relay routes.
pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<RelayState>) {
    cfg.app_data(web::PayloadConfig::new(SDP_LIMIT)).service(
        web::scope("/v1/relay")
            .app_data(state)
            .app_data(web::PayloadConfig::new(SDP_LIMIT))
            .service(web::resource("/whip/{slot_id}").route(web::post().to(whip)))
            .service(web::resource("/whep/{slot_id}").route(web::post().to(whep)))
            .service(web::resource("/whip/{slot_id}/{session_id}").route(web::delete().to(end_whip)))
            .service(web::resource("/whep/{slot_id}/{session_id}").route(web::delete().to(end_whep)))
            .service(web::resource("/stats").route(web::get().to(stats))),
    );
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn bearer(req: &HttpRequest) -> Result<&str, RelayError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(RelayError::Unauthorized("missing Authorization: Bearer header"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(RelayError::Unauthorized("expected Authorization: Bearer <token>"))?;
    Ok(token)
}

/// Check the request's media token allows `grant` on `slot`; who holds it.
fn authorize(state: &RelayState, req: &HttpRequest, slot: SlotId, grant: MediaGrant) -> Result<Holder, RelayError> {
    let token = bearer(req)?;
    match state.key.verify_for(token, slot, grant, now()) {
        Ok(claims) => Ok(Holder {
            user: claims.user_id,
            token: TokenId(token_digest(token)),
            generation: claims.generation,
            exclusive: claims.scope == MediaScope::Exclusive,
        }),
        Err(MediaTokenError::WrongSlot) => Err(RelayError::Forbidden),
        Err(MediaTokenError::Expired) => Err(RelayError::Unauthorized("the token has expired")),
        Err(MediaTokenError::Malformed | MediaTokenError::BadSignature) => {
            Err(RelayError::Unauthorized("the token is not valid"))
        }
    }
}

fn sdp_body(req: &HttpRequest, body: web::Bytes) -> Result<String, RelayError> {
    let is_sdp = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("application/sdp"));
    if !is_sdp {
        return Err(RelayError::NotSdp);
    }
    String::from_utf8(body.to_vec()).map_err(|_| RelayError::BadOffer("the SDP offer is not UTF-8".into()))
}

fn created(state: &RelayState, kind: &str, slot: SlotId, answer: Answer, holder: &Holder) -> HttpResponse {
    let mut res = HttpResponse::Created();
    res.content_type("application/sdp")
        .insert_header((header::LOCATION, format!("/v1/relay/{kind}/{slot}/{}", answer.session)))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    let mut res = res.body(answer.sdp);
    // TURN credentials for the user the media token names, valid for a short while.
    let credential = state.settings.turn_credential(&holder.user.to_string());
    for server in &state.settings.ice_servers {
        if let Ok(v) = HeaderValue::from_str(&server.link_header(credential.as_ref())) {
            res.headers_mut().append(header::LINK, v);
        }
    }
    res
}

async fn start(
    state: web::Data<RelayState>,
    req: HttpRequest,
    slot: SlotId,
    body: web::Bytes,
    role: SessionRole,
) -> Result<HttpResponse, RelayError> {
    let grant = match role {
        SessionRole::Publisher => MediaGrant::Publish,
        SessionRole::Subscriber => MediaGrant::Play,
    };
    let holder = authorize(&state, &req, slot, grant)?;
    let offer = sdp_body(&req, body)?;
    if state.draining.load(Ordering::SeqCst) {
        return Err(RelayError::Draining);
    }
    if crate::release::is_released(&state.redis, slot).await {
        return Err(RelayError::SlotReleased);
    }
    // Redis may have lost the marker (or never got it): the broker's database decides, and
    // says the slot's publish generation (the stage may have changed since the token).
    let Some(generation) = crate::release::generation_from_broker(&state.hooks, slot).await? else {
        return Err(RelayError::SlotReleased);
    };
    state.sessions.forwarder().raise_generation(slot, generation);
    if role == SessionRole::Publisher && holder.generation < generation {
        return Err(RelayError::TokenRevoked);
    }
    // A user the creator banned holds tokens issued before the ban: refused here.
    if crate::release::banned_by_broker(&state.hooks, slot, holder.user).await? {
        return Err(RelayError::Banned);
    }
    let sessions = state.sessions.clone();
    // Peer connections live on the relay's runtime, not on this HTTP worker's thread.
    let answer = state
        .sessions
        .runtime()
        .spawn(async move {
            match role {
                SessionRole::Publisher => sessions.publish(slot, offer, holder).await,
                SessionRole::Subscriber => sessions.subscribe(slot, offer, holder).await,
            }
        })
        .await
        .map_err(|e| RelayError::Internal(anyhow::anyhow!("session task failed: {e}")))??;
    // The room may have ended while the session was set up, its release message handled
    // before the session existed: check again.
    if crate::release::is_released(&state.redis, slot).await {
        state.sessions.end(answer.session);
        return Err(RelayError::SlotReleased);
    }
    let kind = if role == SessionRole::Publisher { "whip" } else { "whep" };
    Ok(created(&state, kind, slot, answer, &holder))
}

/// `POST /v1/relay/whip/{slot_id}`: publish the slot (SDP offer in, SDP answer out).
async fn whip(
    state: web::Data<RelayState>,
    req: HttpRequest,
    path: web::Path<SlotId>,
    body: web::Bytes,
) -> Result<HttpResponse, RelayError> {
    start(state, req, path.into_inner(), body, SessionRole::Publisher).await
}

/// `POST /v1/relay/whep/{slot_id}`: play the slot.
async fn whep(
    state: web::Data<RelayState>,
    req: HttpRequest,
    path: web::Path<SlotId>,
    body: web::Bytes,
) -> Result<HttpResponse, RelayError> {
    start(state, req, path.into_inner(), body, SessionRole::Subscriber).await
}

fn end(
    state: &RelayState,
    req: &HttpRequest,
    slot: SlotId,
    session: Uuid,
    role: SessionRole,
) -> Result<HttpResponse, RelayError> {
    // Either grant of the slot may end its own session resources.
    let token = bearer(req)?;
    let claims = state.key.verify(token, now()).map_err(|_| RelayError::Unauthorized("the token is not valid"))?;
    if claims.slot_id != slot {
        return Err(RelayError::Forbidden);
    }
    let session = SessionId(session);
    match state.sessions.forwarder().session(session) {
        Some((s, r)) if s == slot && r == role => {
            state.sessions.end(session);
            Ok(HttpResponse::Ok().finish())
        }
        _ => Err(RelayError::UnknownSession),
    }
}

/// `DELETE /v1/relay/whip/{slot_id}/{session_id}`: stop publishing.
async fn end_whip(
    state: web::Data<RelayState>,
    req: HttpRequest,
    path: web::Path<(SlotId, Uuid)>,
) -> Result<HttpResponse, RelayError> {
    let (slot, session) = path.into_inner();
    end(&state, &req, slot, session, SessionRole::Publisher)
}

/// `DELETE /v1/relay/whep/{slot_id}/{session_id}`: stop playing.
async fn end_whep(
    state: web::Data<RelayState>,
    req: HttpRequest,
    path: web::Path<(SlotId, Uuid)>,
) -> Result<HttpResponse, RelayError> {
    let (slot, session) = path.into_inner();
    end(&state, &req, slot, session, SessionRole::Subscriber)
}

/// `GET /v1/relay/stats` (operators): publishers, subscribers and counters, per slot and total.
async fn stats(state: web::Data<RelayState>, user: AuthUser) -> Result<HttpResponse, RelayError> {
    if user.role != Role::Operator {
        return Err(RelayError::Forbidden);
    }
    if let Err(e) = user.require(Role::Operator) {
        // An operator who did not sign in with a second factor: `second_factor_required`.
        return Ok(actix_web::ResponseError::error_response(&e));
    }
    Ok(HttpResponse::Ok().json(state.sessions.forwarder().stats()))
}
