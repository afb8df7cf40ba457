//! `/v1/private-requests` and `/v1/presence`.

use crate::broker::Broker;
use crate::domain::{MediaMode, PresenceStatus};
use crate::error::BrokerError;
use crate::presence;
use crate::routes::ErrorDoc;
use crate::store;
use crate::view::{room_view, RequestView, RoomView};
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use tandem_shared::auth::AuthUser;
use tandem_shared::events::{publish, user_channel, BusEvent};
use tandem_shared::ids::{RequestId, Role, UserId};
use utoipa::ToSchema;

/// Body of `PUT /v1/presence`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPresence {
    /// `online` (takes requests), `away` or `offline`.
    pub status: PresenceStatus,
}

/// A creator's availability.
#[derive(Debug, Serialize, ToSchema)]
pub struct PresenceView {
    /// The creator.
    #[schema(value_type = String, format = Uuid)]
    pub user_id: UserId,
    /// `online`, `away`, `offline` or `busy` (in a private session).
    pub status: String,
}

/// A creator sets their presence.
#[utoipa::path(put, path = "/v1/presence", tag = "presence", request_body = SetPresence, security(("bearer" = [])),
    responses((status = 200, body = PresenceView), (status = 403, body = ErrorDoc)))]
pub async fn set_presence(
    broker: web::Data<Broker>,
    user: AuthUser,
    body: web::Json<SetPresence>,
) -> Result<HttpResponse, BrokerError> {
    user.require(Role::Creator)?;
    presence::set_presence(&broker.core.redis, user.user_id, body.status, broker.settings.presence_ttl).await?;
    let status = presence::availability(&broker.core.redis, user.user_id).await?.as_str().to_string();
    let event = BusEvent::Presence { user_id: user.user_id, status: status.clone() };
    if let Err(e) = publish(&broker.core.redis, &user_channel(&broker.core.redis, user.user_id), &event).await {
        tracing::warn!(error.cause_chain = ?e, "failed to publish presence");
    }
    Ok(HttpResponse::Ok().json(PresenceView { user_id: user.user_id, status }))
}

/// Anyone signed in reads a creator's availability.
#[utoipa::path(get, path = "/v1/presence/{user_id}", tag = "presence", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "creator id")),
    responses((status = 200, body = PresenceView)))]
pub async fn get_presence(
    broker: web::Data<Broker>,
    _user: AuthUser,
    id: web::Path<UserId>,
) -> Result<HttpResponse, BrokerError> {
    let status = presence::availability(&broker.core.redis, *id).await?.as_str().to_string();
    Ok(HttpResponse::Ok().json(PresenceView { user_id: *id, status }))
}

/// Body of `POST /v1/private-requests`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    /// The creator asked.
    #[schema(value_type = String, format = Uuid)]
    pub creator_id: UserId,
    /// `relay`, `livepeer` or `p2p`; the deployment default (`TANDEM_PRIVATE_MEDIA`) when absent.
    #[serde(default)]
    pub media: Option<MediaMode>,
}

/// A fan asks a creator for a private session; the creator gets `private.request`.
#[utoipa::path(post, path = "/v1/private-requests", tag = "private", request_body = NewRequest, security(("bearer" = [])),
    responses((status = 201, body = RequestView), (status = 400, body = ErrorDoc, description = "`invalid_input`: media mode"),
        (status = 402, body = ErrorDoc, description = "insufficient_funds"),
        (status = 403, body = ErrorDoc, description = "forbidden: not a fan; email_unverified"), (status = 404, body = ErrorDoc),
        (status = 409, body = ErrorDoc, description = "creator_offline, creator_away, creator_busy or request_pending")))]
pub async fn create(
    broker: web::Data<Broker>,
    user: AuthUser,
    body: web::Json<NewRequest>,
) -> Result<HttpResponse, BrokerError> {
    user.require(Role::Fan)?;
    user.require_verified()?;
    let (req, quote) = broker.request_private(user.user_id, body.creator_id, body.media).await?;
    Ok(HttpResponse::Created().json(RequestView::new(&req, quote)))
}

/// Body of `GET /v1/private-requests`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestList {
    /// Newest first: received (creators) or sent (fans).
    pub requests: Vec<RequestView>,
}

/// Requests the caller received (creator) or sent (fan), newest first.
#[utoipa::path(get, path = "/v1/private-requests", tag = "private", security(("bearer" = [])),
    responses((status = 200, body = RequestList)))]
pub async fn list(broker: web::Data<Broker>, user: AuthUser) -> Result<HttpResponse, BrokerError> {
    let rows = store::requests_of(&broker.core.db, user.user_id, user.role == Role::Creator, 50).await?;
    Ok(HttpResponse::Ok().json(RequestList { requests: rows.iter().map(|r| RequestView::new(r, None)).collect() }))
}

/// One request (its fan or creator only).
#[utoipa::path(get, path = "/v1/private-requests/{id}", tag = "private", security(("bearer" = [])),
    params(("id" = String, Path, description = "request id")),
    responses((status = 200, body = RequestView), (status = 404, body = ErrorDoc)))]
pub async fn get(
    broker: web::Data<Broker>,
    user: AuthUser,
    id: web::Path<RequestId>,
) -> Result<HttpResponse, BrokerError> {
    let me = user.user_id;
    let req = broker.own_request(*id, |r| r.fan_id == me || r.creator_id == me).await?;
    Ok(HttpResponse::Ok().json(RequestView::new(&req, None)))
}

/// What the creator gets on accept.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// The request, now `accepted`.
    pub request: RequestView,
    /// The private room: the creator's publish endpoint on `host`, the fan's play endpoint on `guest`.
    pub room: RoomView,
}

/// The creator accepts: one private room with both slots (the fan gets `private.accepted`).
#[utoipa::path(post, path = "/v1/private-requests/{id}/accept", tag = "private", security(("bearer" = [])),
    params(("id" = String, Path, description = "request id")),
    responses((status = 200, body = Accepted), (status = 402, body = ErrorDoc),
        (status = 403, body = ErrorDoc, description = "forbidden: not the creator; email_unverified"),
        (status = 404, body = ErrorDoc), (status = 409, body = ErrorDoc, description = "creator_busy or request_not_pending"),
        (status = 502, body = ErrorDoc), (status = 503, body = ErrorDoc)))]
pub async fn accept(
    broker: web::Data<Broker>,
    user: AuthUser,
    id: web::Path<RequestId>,
) -> Result<HttpResponse, BrokerError> {
    user.require(Role::Creator)?;
    user.require_verified()?;
    let (req, room) = broker.accept(user.user_id, *id).await?;
    let slots = store::slots(&broker.core.db, room.room_id).await?;
    let room = room_view(&broker, &room, &slots, user.user_id, None);
    Ok(HttpResponse::Ok().json(Accepted { request: RequestView::new(&req, None), room }))
}

/// The creator declines (the fan gets `private.declined`).
#[utoipa::path(post, path = "/v1/private-requests/{id}/decline", tag = "private", security(("bearer" = [])),
    params(("id" = String, Path, description = "request id")),
    responses((status = 200, body = RequestView), (status = 403, body = ErrorDoc), (status = 404, body = ErrorDoc),
        (status = 409, body = ErrorDoc)))]
pub async fn decline(
    broker: web::Data<Broker>,
    user: AuthUser,
    id: web::Path<RequestId>,
) -> Result<HttpResponse, BrokerError> {
    user.require(Role::Creator)?;
    let req = broker.decline(user.user_id, *id).await?;
    Ok(HttpResponse::Ok().json(RequestView::new(&req, None)))
}

/// The fan withdraws (the creator gets `private.declined` with reason `cancelled`).
#[utoipa::path(post, path = "/v1/private-requests/{id}/cancel", tag = "private", security(("bearer" = [])),
    params(("id" = String, Path, description = "request id")),
    responses((status = 200, body = RequestView), (status = 403, body = ErrorDoc), (status = 404, body = ErrorDoc),
        (status = 409, body = ErrorDoc)))]
pub async fn cancel(
    broker: web::Data<Broker>,
    user: AuthUser,
    id: web::Path<RequestId>,
) -> Result<HttpResponse, BrokerError> {
    user.require(Role::Fan)?;
    let req = broker.cancel(user.user_id, *id).await?;
    Ok(HttpResponse::Ok().json(RequestView::new(&req, None)))
}
