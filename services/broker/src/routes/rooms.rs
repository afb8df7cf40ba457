//! `/v1/rooms`: open, list, read, end, heartbeat.

use crate::ai::view::{ai_view, AiView};
use crate::ai::AiChange;
use crate::broker::Broker;
use crate::domain::{MediaMode, RoomKind, RoomStatus, Title};
use crate::error::BrokerError;
use crate::presence;
use crate::routes::ErrorDoc;
use crate::store;
use crate::view::{room_view, RoomView};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tandem_shared::auth::AuthUser;
use tandem_shared::client_addr::client_ip;
use tandem_shared::events::AiSource;
use tandem_shared::geo::Region;
use tandem_shared::ids::{Role, RoomId, UserId};
use utoipa::{IntoParams, ToSchema};

/// Body of `POST /v1/rooms`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenRoom {
    /// Shown in the live list (at most 140 characters).
    #[serde(default)]
    pub title: String,
    /// `relay` or `livepeer`; the deployment default when absent.
    #[serde(default)]
    pub media: Option<MediaMode>,
    /// An AI effect on the broadcast: Daydream with `DAYDREAM_API_KEY`, a local preview effect
    /// without (`docs/ai.md`).
    #[serde(default)]
    pub ai: Option<crate::ai::AiRequest>,
}

/// A creator opens a broadcast; both slots (and, with `ai` in Daydream mode, the AI stream)
/// are created or none.
#[utoipa::path(post, path = "/v1/rooms", tag = "rooms", request_body = OpenRoom, security(("bearer" = [])),
    responses((status = 201, body = RoomView),
        (status = 400, body = ErrorDoc, description = "invalid_input: bad title, media or AI params (unknown or out of bounds)"),
        (status = 401, body = ErrorDoc, description = "unauthenticated"),
        (status = 403, body = ErrorDoc, description = "forbidden: not a creator; email_unverified"),
        (status = 409, body = ErrorDoc, description = "already_live"),
        (status = 502, body = ErrorDoc, description = "provider_error / ai_provider_error (Daydream refused, with its message)"),
        (status = 503, body = ErrorDoc, description = "provider_unavailable / ai_unavailable")))]
pub async fn open(
    broker: web::Data<Broker>,
    user: AuthUser,
    body: web::Json<OpenRoom>,
) -> Result<HttpResponse, BrokerError> {
    user.require(Role::Creator)?;
    user.require_verified()?;
    let title = Title::parse(&body.title).map_err(BrokerError::Validation)?;
    let media = body.media.unwrap_or(broker.settings.broadcast_media);
    let body = body.into_inner();
    let (room, _) = broker.open_broadcast(user.user_id, title.as_ref(), media, body.ai).await?;
    let slots = store::slots(&broker.core.db, room.room_id).await?;
    let mut view = room_view(&broker, &room, &slots, user.user_id, None);
    view.ai = ai_view(&broker, &room, user.user_id).await?;
    Ok(HttpResponse::Created().json(view))
}

/// Query of `GET /v1/rooms`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only `true` is supported: live broadcasts.
    pub live: Option<bool>,
    /// At most this many (1–200, default 50).
    pub limit: Option<i64>,
}

/// A live broadcast in the public list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListedRoomView {
    /// Room id.
    #[schema(value_type = String, format = Uuid)]
    pub id: RoomId,
    /// Title.
    pub title: String,
    /// Media mode.
    pub media: MediaMode,
    /// The creator.
    pub creator: CreatorView,
    /// Viewers across all signaling nodes.
    pub viewers: u64,
    /// Opened at.
    pub created_at: DateTime<Utc>,
}

/// A creator in the live list.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatorView {
    /// User id.
    #[schema(value_type = String, format = Uuid)]
    pub id: UserId,
    /// Public handle.
    pub handle: String,
}

/// Body of `GET /v1/rooms`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomList {
    /// Newest first.
    pub rooms: Vec<ListedRoomView>,
}

/// Public list of live broadcasts with their creator and viewer count (private rooms never appear,
/// nor rooms whose creator blocks the caller's region: the client address, from trusted proxies
/// only, is looked up in `TANDEM_GEOIP_DB`).
#[utoipa::path(get, path = "/v1/rooms", tag = "rooms", params(ListQuery),
    responses((status = 200, body = RoomList), (status = 400, body = ErrorDoc, description = "`invalid_input`"),
        (status = 503, body = ErrorDoc, description = "`overloaded`: retry shortly")))]
pub async fn list(
    broker: web::Data<Broker>,
    req: HttpRequest,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, BrokerError> {
    if q.live == Some(false) {
        return Err(BrokerError::Validation("only live=true is supported".into()));
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(BrokerError::Validation("limit must be between 1 and 200".into()));
    }
    let mut rows = store::live_broadcasts(&broker.core.db, limit).await?;
    let place = broker.core.geo.place(client_ip(&req, &broker.core.settings.trusted_proxies));
    if place.country.is_some() && !rows.is_empty() {
        let hosts: Vec<UserId> = rows.iter().map(|r| r.host_id).collect();
        let blocked = crate::safety::store::blocked_regions(&broker.core.db, &hosts).await?;
        rows.retain(|r| {
            let regions: Vec<Region> =
                blocked.get(&r.host_id).into_iter().flatten().filter_map(|c| Region::parse(c).ok()).collect();
            !place.in_any(&regions)
        });
    }
    let ids: Vec<RoomId> = rows.iter().map(|r| r.room_id).collect();
    let viewers = tandem_shared::live::viewer_counts(&broker.core.redis, &ids).await?;
    let rooms = rows
        .into_iter()
        .zip(viewers)
        .map(|(r, viewers)| ListedRoomView {
            id: r.room_id,
            title: r.title,
            media: r.media,
            creator: CreatorView { id: r.host_id, handle: r.host_handle },
            viewers,
            created_at: r.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(RoomList { rooms }))
}

/// Load a room the caller may see: broadcasts for anyone signed in, private rooms for their two
/// participants (and operators); anyone else gets 404.
async fn visible_room(broker: &Broker, user: &AuthUser, id: RoomId) -> Result<store::RoomRow, BrokerError> {
    let room = store::room(&broker.core.db, id).await?.ok_or(BrokerError::NotFound("room"))?;
    if room.kind == RoomKind::Private && !room.is_participant(user.user_id) && !user.is_operator() {
        return Err(BrokerError::NotFound("room"));
    }
    Ok(room)
}

/// A room with the endpoints the caller may use, and its AI effect (`ai`; the pipeline's health
/// only for the host). This is how a viewer joins a room's media: a viewer banned by the creator
/// gets `403 banned`, one in a region the creator blocks `403 geo_blocked` (no play tokens).
#[utoipa::path(get, path = "/v1/rooms/{id}", tag = "rooms", security(("bearer" = [])),
    params(("id" = String, Path, description = "room id")),
    responses((status = 200, body = RoomView), (status = 401, body = ErrorDoc),
        (status = 403, body = ErrorDoc, description = "`banned` or `geo_blocked`"), (status = 404, body = ErrorDoc)))]
pub async fn get(
    broker: web::Data<Broker>,
    req: HttpRequest,
    user: AuthUser,
    id: web::Path<RoomId>,
) -> Result<HttpResponse, BrokerError> {
    let room = visible_room(&broker, &user, *id).await?;
    if room.host_id != user.user_id && user.role != Role::Operator && room.status == RoomStatus::Live {
        if broker.is_banned(room.host_id, user.user_id).await? {
            return Err(BrokerError::banned());
        }
        let place = broker.core.geo.place(client_ip(&req, &broker.core.settings.trusted_proxies));
        if !broker.geo_allowed(room.host_id, &place).await? {
            return Err(BrokerError::geo_blocked());
        }
    }
    let slots = store::slots(&broker.core.db, room.room_id).await?;
    let stage = match (room.kind, room.status) {
        (RoomKind::Broadcast, RoomStatus::Live) => presence::stage_guest(&broker.core.redis, room.room_id).await?,
        _ => None,
    };
    let mut view = room_view(&broker, &room, &slots, user.user_id, stage);
    view.ai = ai_view(&broker, &room, user.user_id).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// End a room (host, private guest or operator). Idempotent: ending an ended room returns it.
#[utoipa::path(post, path = "/v1/rooms/{id}/end", tag = "rooms", security(("bearer" = [])),
    params(("id" = String, Path, description = "room id")),
    responses((status = 200, body = RoomView), (status = 403, body = ErrorDoc), (status = 404, body = ErrorDoc)))]
pub async fn end(
    broker: web::Data<Broker>,
    user: AuthUser,
    id: web::Path<RoomId>,
) -> Result<HttpResponse, BrokerError> {
    let room = visible_room(&broker, &user, *id).await?;
    if !room.is_participant(user.user_id) && !user.is_operator() {
        return Err(BrokerError::Forbidden("only the host, the private guest or an operator may end a room"));
    }
    let ended = broker.end_room(room.room_id, Broker::end_reason_for(&room, user.user_id)).await?;
    if ended && !room.is_participant(user.user_id) {
        // An operator ended someone else's room: a privileged action.
        broker
            .audit(tandem_shared::audit::AuditEntry {
                actor: tandem_shared::audit::Actor::User { user_id: user.user_id },
                action: tandem_shared::audit::AuditAction::RoomEnded,
                target_user: Some(room.host_id),
                room_id: Some(room.room_id),
                reason: "ended by an operator".into(),
                service: "broker".into(),
                details: serde_json::json!({ "route": "POST /v1/rooms/{id}/end" }),
            })
            .await;
    }
    let room = store::room(&broker.core.db, room.room_id).await?.ok_or(BrokerError::NotFound("room"))?;
    let slots = store::slots(&broker.core.db, room.room_id).await?;
    let mut view = room_view(&broker, &room, &slots, user.user_id, None);
    view.ai = ai_view(&broker, &room, user.user_id).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// A participant says it is alive (hosts and private guests, every few seconds).
#[utoipa::path(post, path = "/v1/rooms/{id}/heartbeat", tag = "rooms", security(("bearer" = [])),
    params(("id" = String, Path, description = "room id")),
    responses((status = 204), (status = 404, body = ErrorDoc), (status = 409, body = ErrorDoc, description = "room_ended")))]
pub async fn heartbeat(
    broker: web::Data<Broker>,
    user: AuthUser,
    id: web::Path<RoomId>,
) -> Result<HttpResponse, BrokerError> {
    broker.heartbeat(*id, user.user_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Body of `PUT /v1/rooms/{id}/stage`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetStage {
    /// The viewer brought on stage (after `stage.accept` over signaling).
    #[schema(value_type = String, format = Uuid)]
    pub user_id: UserId,
}

/// The host of a live broadcast puts a user on stage: that user's view of the room then has the
/// `guest` slot's publish endpoint (the slot was allocated with the room).
#[utoipa::path(put, path = "/v1/rooms/{id}/stage", tag = "rooms", request_body = SetStage, security(("bearer" = [])),
    params(("id" = String, Path, description = "room id")),
    responses((status = 200, body = RoomView), (status = 400, body = ErrorDoc, description = "`invalid_input`: not another existing user"),
        (status = 403, body = ErrorDoc), (status = 404, body = ErrorDoc),
        (status = 409, body = ErrorDoc, description = "room_ended or not a broadcast")))]
pub async fn set_stage(
    broker: web::Data<Broker>,
    user: AuthUser,
    id: web::Path<RoomId>,
    body: web::Json<SetStage>,
) -> Result<HttpResponse, BrokerError> {
    let room = visible_room(&broker, &user, *id).await?;
    if room.host_id != user.user_id {
        return Err(BrokerError::Forbidden("only the host puts someone on stage"));
    }
    broker.change_stage(&room, Some(body.user_id)).await?;
    let slots = store::slots(&broker.core.db, room.room_id).await?;
    Ok(HttpResponse::Ok().json(room_view(&broker, &room, &slots, user.user_id, Some(body.user_id))))
}

/// The host, or the user on stage, clears the stage.
#[utoipa::path(delete, path = "/v1/rooms/{id}/stage", tag = "rooms", security(("bearer" = [])),
    params(("id" = String, Path, description = "room id")),
    responses((status = 204), (status = 403, body = ErrorDoc), (status = 404, body = ErrorDoc),
        (status = 409, body = ErrorDoc, description = "room_ended or not a broadcast")))]
pub async fn clear_stage(
    broker: web::Data<Broker>,
    user: AuthUser,
    id: web::Path<RoomId>,
) -> Result<HttpResponse, BrokerError> {
    let room = visible_room(&broker, &user, *id).await?;
    let on_stage = presence::stage_guest(&broker.core.redis, room.room_id).await?;
    if room.host_id != user.user_id && on_stage != Some(user.user_id) {
        return Err(BrokerError::Forbidden("only the host or the user on stage clears the stage"));
    }
    broker.change_stage(&room, None).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The host changes the AI effect live. Params that restart the pipeline (model, size, steps,
/// ...) are refused with `400 reload_required` unless `"reload": true`.
#[utoipa::path(patch, path = "/v1/rooms/{id}/ai", tag = "rooms", request_body = AiChange, security(("bearer" = [])),
    params(("id" = String, Path, description = "room id")),
    responses((status = 200, body = AiView),
        (status = 400, body = ErrorDoc, description = "invalid_input (unknown param, out of bounds, nothing to change) or reload_required"),
        (status = 401, body = ErrorDoc, description = "unauthenticated"),
        (status = 403, body = ErrorDoc, description = "forbidden: not the host"),
        (status = 404, body = ErrorDoc, description = "no such room, or it has no AI effect"),
        (status = 409, body = ErrorDoc, description = "room_ended"),
        (status = 502, body = ErrorDoc, description = "ai_provider_error: Daydream refused (its message included)"),
        (status = 503, body = ErrorDoc, description = "ai_unavailable: Daydream unreachable after retries")))]
pub async fn change_ai(
    broker: web::Data<Broker>,
    user: AuthUser,
    id: web::Path<RoomId>,
    body: web::Json<AiChange>,
) -> Result<HttpResponse, BrokerError> {
    let room = visible_room(&broker, &user, *id).await?;
    let row = crate::ai::store::get(&broker.core.db, room.room_id).await?.ok_or(BrokerError::NotFound("AI effect"))?;
    if room.host_id != user.user_id {
        return Err(BrokerError::Forbidden("only the host changes the AI effect"));
    }
    if room.status != RoomStatus::Live {
        return Err(BrokerError::conflict("room_ended", "the room has ended"));
    }
    broker.ai.change(&row, body.into_inner(), AiSource::Host).await?;
    let view = ai_view(&broker, &room, user.user_id).await?.ok_or(BrokerError::NotFound("AI effect"))?;
    Ok(HttpResponse::Ok().json(view))
}
