//! Trust-and-safety routes: room moderation, a creator's rules and bans, abuse reports, the
//! operators' report queue and audit log, and Livepeer's playback access-control webhook.

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::provider::livepeer::{check_webhook_header, verify_access_body};
use crate::routes::ErrorDoc;
use crate::safety::reports::{NewReport, ReportAction, ReportStatus, ReportView};
use crate::safety::store::{AuditRow, BanView};
use crate::safety::SafetySettings;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tandem_shared::auth::AuthUser;
use tandem_shared::ids::{Role, RoomId, UserId};
use tandem_shared::media_token::{MediaGrant, MediaTokenError};
use tandem_shared::moderation::{ModAction, ModerationRequest};
use utoipa::{IntoParams, ToSchema};

/// Body of `POST /v1/rooms/{id}/moderation`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Moderate {
    /// `kick`, `ban`, `unban`, `mute` or `unmute`.
    pub action: ModAction,
    /// Whom.
    #[schema(value_type = String, format = Uuid)]
    pub user_id: UserId,
    /// Why (1–500 characters): kept in the audit log, never shown to the room.
    pub reason: String,
    /// A ban's or mute's length in minutes (1–525600); absent: a ban for good, a mute until the
    /// room ends.
    #[serde(default)]
    pub minutes: Option<u32>,
}

/// The room's host (or an operator, in any room) kicks, bans, mutes, unbans or unmutes a user.
/// A kick or ban takes the user's sockets out of the room on every signaling node and ends
/// their relay sessions; a ban also keeps them out of the creator's future rooms and refuses
/// their pending private requests to the creator. The room is told `member.removed` /
/// `member.muted` without the reason.
#[utoipa::path(post, path = "/v1/rooms/{id}/moderation", tag = "safety", request_body = Moderate, security(("bearer" = [])),
    params(("id" = String, Path, description = "room id")),
    responses((status = 204, description = "done"),
        (status = 400, body = ErrorDoc, description = "`invalid_input`: bad reason or minutes, or yourself"),
        (status = 401, body = ErrorDoc), (status = 403, body = ErrorDoc, description = "not the host or an operator, or the target is the host"),
        (status = 404, body = ErrorDoc, description = "no such room or user"),
        (status = 409, body = ErrorDoc, description = "`room_ended` (kick, mute)"),
        (status = 503, body = ErrorDoc)))]
pub async fn moderate(
    broker: web::Data<Broker>,
    user: AuthUser,
    id: web::Path<RoomId>,
    body: web::Json<Moderate>,
) -> Result<HttpResponse, BrokerError> {
    let body = body.into_inner();
    let req = ModerationRequest {
        room_id: id.into_inner(),
        actor: user.user_id,
        target: body.user_id,
        action: body.action,
        reason: body.reason,
        minutes: body.minutes,
        second_factor: user.claims.mfa,
    };
    broker.moderate(&req).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's (a creator's) rules for their rooms.
#[utoipa::path(get, path = "/v1/creator/safety", tag = "safety", security(("bearer" = [])),
    responses((status = 200, body = SafetySettings), (status = 401, body = ErrorDoc), (status = 403, body = ErrorDoc, description = "not a creator")))]
pub async fn get_settings(broker: web::Data<Broker>, user: AuthUser) -> Result<HttpResponse, BrokerError> {
    user.require(Role::Creator)?;
    Ok(HttpResponse::Ok().json(broker.safety_settings(user.user_id).await?))
}

/// Replace the caller's rules: slow mode, blocked words (chat and prompt proposals) and blocked
/// regions (viewers there do not see the creator's rooms listed and cannot join them).
#[utoipa::path(put, path = "/v1/creator/safety", tag = "safety", request_body = SafetySettings, security(("bearer" = [])),
    responses((status = 200, body = SafetySettings), (status = 400, body = ErrorDoc, description = "`invalid_input`: out of bounds or not an ISO 3166 region"),
        (status = 401, body = ErrorDoc), (status = 403, body = ErrorDoc, description = "not a creator")))]
pub async fn put_settings(
    broker: web::Data<Broker>,
    user: AuthUser,
    body: web::Json<SafetySettings>,
) -> Result<HttpResponse, BrokerError> {
    user.require(Role::Creator)?;
    Ok(HttpResponse::Ok().json(broker.set_safety_settings(user.user_id, body.into_inner()).await?))
}

/// The caller's active bans.
#[derive(Debug, Serialize, ToSchema)]
pub struct BanList {
    /// Newest first.
    pub bans: Vec<BanView>,
}

/// The users the caller (a creator) has banned, with why and until when.
#[utoipa::path(get, path = "/v1/creator/bans", tag = "safety", security(("bearer" = [])),
    responses((status = 200, body = BanList), (status = 401, body = ErrorDoc), (status = 403, body = ErrorDoc, description = "not a creator")))]
pub async fn bans(broker: web::Data<Broker>, user: AuthUser) -> Result<HttpResponse, BrokerError> {
    user.require(Role::Creator)?;
    let bans = crate::safety::store::bans_of(&broker.core.db, user.user_id).await?;
    Ok(HttpResponse::Ok().json(BanList { bans }))
}

/// Report a user, a room or a chat message to the operators.
#[utoipa::path(post, path = "/v1/abuse-reports", tag = "safety", request_body = NewReport, security(("bearer" = [])),
    responses((status = 201, body = ReportView), (status = 400, body = ErrorDoc, description = "`invalid_input`"),
        (status = 401, body = ErrorDoc), (status = 404, body = ErrorDoc, description = "no such user or room"), (status = 429, body = ErrorDoc)))]
pub async fn report(
    broker: web::Data<Broker>,
    user: AuthUser,
    body: web::Json<NewReport>,
) -> Result<HttpResponse, BrokerError> {
    Ok(HttpResponse::Created().json(broker.report(user.user_id, body.into_inner()).await?))
}

/// Query of `GET /v1/admin/reports`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ReportQuery {
    /// `open` (default, oldest first), `actioned` or `dismissed` (newest first).
    pub status: Option<ReportStatus>,
    /// At most this many (1–200, default 50).
    pub limit: Option<i64>,
}

/// Reports.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportList {
    /// The reports.
    pub reports: Vec<ReportView>,
}

/// Operators: the report queue.
#[utoipa::path(get, path = "/v1/admin/reports", tag = "safety-admin", params(ReportQuery), security(("bearer" = [])),
    responses((status = 200, body = ReportList), (status = 400, body = ErrorDoc), (status = 401, body = ErrorDoc), (status = 403, body = ErrorDoc, description = "not an operator")))]
pub async fn report_queue(
    broker: web::Data<Broker>,
    user: AuthUser,
    q: web::Query<ReportQuery>,
) -> Result<HttpResponse, BrokerError> {
    user.require(Role::Operator)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(BrokerError::Validation("limit must be between 1 and 200".into()));
    }
    let reports = broker.reports(q.status.unwrap_or(ReportStatus::Open), limit).await?;
    Ok(HttpResponse::Ok().json(ReportList { reports }))
}

/// Operators: act on an open report (ban the user platform-wide, end the room, or dismiss).
/// Written to the audit log.
#[utoipa::path(post, path = "/v1/admin/reports/{id}", tag = "safety-admin", request_body = ReportAction, security(("bearer" = [])),
    params(("id" = String, Path, description = "report id")),
    responses((status = 200, body = ReportView), (status = 400, body = ErrorDoc), (status = 401, body = ErrorDoc),
        (status = 403, body = ErrorDoc, description = "not an operator"), (status = 404, body = ErrorDoc),
        (status = 409, body = ErrorDoc, description = "`report_closed`")))]
pub async fn decide_report(
    broker: web::Data<Broker>,
    user: AuthUser,
    id: web::Path<uuid::Uuid>,
    body: web::Json<ReportAction>,
) -> Result<HttpResponse, BrokerError> {
    user.require(Role::Operator)?;
    Ok(HttpResponse::Ok().json(broker.decide_report(user.user_id, id.into_inner(), body.into_inner()).await?))
}

/// Query of `GET /v1/admin/audit`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Only rows older than this `audit_id` (paging).
    pub before: Option<i64>,
    /// Only this action (`ban`, `kick`, `mute`, `verification_approved`, `payout_executed`, ...).
    pub action: Option<String>,
    /// Only rows by or about this user.
    #[param(value_type = Option<String>, format = Uuid)]
    pub user_id: Option<UserId>,
    /// At most this many (1–500, default 100).
    pub limit: Option<i64>,
}

/// Audit rows.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    /// Newest first.
    pub entries: Vec<AuditRow>,
}

/// Operators: the audit log of privileged actions (moderation, verification decisions,
/// payouts, wallet unfreezes, rooms ended by operators, report decisions), newest first.
#[utoipa::path(get, path = "/v1/admin/audit", tag = "safety-admin", params(AuditQuery), security(("bearer" = [])),
    responses((status = 200, body = AuditList), (status = 400, body = ErrorDoc), (status = 401, body = ErrorDoc), (status = 403, body = ErrorDoc, description = "not an operator")))]
pub async fn audit(
    broker: web::Data<Broker>,
    user: AuthUser,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, BrokerError> {
    user.require(Role::Operator)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(BrokerError::Validation("limit must be between 1 and 500".into()));
    }
    let action = q.action.as_deref().map(str::trim).filter(|a| !a.is_empty());
    if action.is_some_and(|a| a.len() > 64) {
        return Err(BrokerError::Validation("action is at most 64 characters".into()));
    }
    let entries = crate::safety::store::audit(&broker.core.db, q.before, action, q.user_id, limit).await?;
    Ok(HttpResponse::Ok().json(AuditList { entries }))
}

/// Livepeer playback access control (`playbackPolicy: {type: "webhook"}`): Studio asks before a
/// viewer plays; the viewer's access key is the Tandem play token of the slot from their room
/// view. Allowed (204) only when the token is valid, the slot's room is live and the viewer is
/// not banned from it; anything else is 403, which Livepeer treats as a refusal. Signed with
/// `Livepeer-Signature` like the other webhooks.
#[utoipa::path(post, path = "/v1/webhooks/livepeer/access", tag = "webhooks",
    request_body(content = String, content_type = "application/json", description = "Livepeer access-control request (raw bytes are signed)"),
    responses((status = 204, description = "play allowed"), (status = 400, body = ErrorDoc, description = "`invalid_input`"),
        (status = 401, body = ErrorDoc, description = "invalid_signature or stale"),
        (status = 403, body = ErrorDoc, description = "`access_denied`"),
        (status = 404, body = ErrorDoc, description = "`not_found`: no webhook secret configured"),
        (status = 413, body = ErrorDoc), (status = 503, body = ErrorDoc)))]
pub async fn livepeer_access(
    broker: web::Data<Broker>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, BrokerError> {
    let Some(secret) = broker.settings.livepeer_webhook_secret.as_deref() else {
        return Err(BrokerError::NotFound("webhook"));
    };
    let header = req.headers().get("livepeer-signature").and_then(|v| v.to_str().ok());
    let now_ms = chrono::Utc::now().timestamp_millis();
    let parsed = check_webhook_header(header, now_ms, broker.settings.webhook_tolerance)
        .map_err(|_| BrokerError::Signature("invalid Livepeer-Signature"))?;
    let body = tandem_shared::webhook::read_body(&req, payload, crate::routes::webhooks::WEBHOOK_LIMIT).await?;
    let access =
        verify_access_body(&parsed, secret, &body).map_err(|_| BrokerError::Signature("invalid Livepeer-Signature"))?;
    let denied = || BrokerError::Denied { code: "access_denied", message: "playback is not allowed" };
    let claims = match broker.media_key.verify(&access.access_key, chrono::Utc::now().timestamp()) {
        Ok(c) if c.grant == MediaGrant::Play => c,
        Ok(_) | Err(MediaTokenError::Malformed | MediaTokenError::BadSignature | MediaTokenError::Expired) => {
            return Err(denied())
        }
        Err(MediaTokenError::WrongSlot) => return Err(denied()),
    };
    if !broker.may_play(claims.slot_id, claims.user_id).await? {
        metrics::counter!("broker_playback_denied_total").increment(1);
        return Err(denied());
    }
    Ok(HttpResponse::NoContent().finish())
}
