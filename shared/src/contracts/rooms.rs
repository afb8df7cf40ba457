//! The [`RoomControl`] contract over internal HTTP (`/internal/v1/rooms`, served by the broker).

use super::client::{CallError, InternalClient};
use super::{internal_error, LocalContract};
use crate::hooks::{LiveSlot, RoomControl, RoomSummary};
use crate::ids::{RoomId, SlotId, UserId};
use crate::moderation::{ModerationRefusal, ModerationRequest, RoomPolicy};
use crate::service_auth::{ServiceCaller, ServiceKey, ServiceName};
use actix_web::{web, HttpResponse};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Room control of another process (the broker).
///
/// Heartbeats are the one frequent call (every member, every 15 s): one task sends them, up to
/// [`BATCH_MAX`] per call, in `POST /internal/v1/heartbeats`. It never waits to fill a batch: a
/// heartbeat is sent at once when no call is in flight, and those that arrive during a call go
/// together in the next one, so batches grow only with load.
pub struct RemoteRoomControl {
    client: InternalClient,
    beats: Option<mpsc::Sender<Beat>>,
}

/// Most heartbeats in one internal call.
const BATCH_MAX: usize = 500;

type Beat = (UserBeat, oneshot::Sender<Result<(), String>>);

impl RemoteRoomControl {
    /// Room control calling `client` (whose target is the broker). Inside a Tokio runtime,
    /// heartbeats are batched by a task of that runtime; outside one, each is its own call.
    pub fn new(client: InternalClient) -> Self {
        let beats = tokio::runtime::Handle::try_current().ok().map(|rt| {
            let (tx, rx) = mpsc::channel(BATCH_MAX * 8);
            rt.spawn(batch_heartbeats(client.clone(), rx));
            tx
        });
        Self { client, beats }
    }
}

#[derive(Clone, Copy, Serialize, Deserialize)]
struct UserBeat {
    room_id: RoomId,
    user_id: UserId,
}

#[derive(Serialize, Deserialize)]
struct Beats {
    beats: Vec<UserBeat>,
}

/// Send waiting heartbeats in batches until every sender is gone.
async fn batch_heartbeats(client: InternalClient, mut rx: mpsc::Receiver<Beat>) {
    let mut batch: Vec<Beat> = Vec::with_capacity(BATCH_MAX);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < BATCH_MAX {
            match rx.try_recv() {
                Ok(beat) => batch.push(beat),
                Err(_) => break,
            }
        }
        let body = Beats { beats: batch.iter().map(|(b, _)| *b).collect() };
        let result = client
            .call::<_, serde_json::Value>(Method::POST, "/internal/v1/heartbeats", Some(&body), None)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
        for (_, done) in batch.drain(..) {
            let _ = done.send(result.clone());
        }
    }
}

#[derive(Serialize, Deserialize)]
struct EndBody {
    reason: String,
}

#[derive(Serialize, Deserialize)]
struct Ended {
    ended: bool,
}

#[derive(Serialize, Deserialize)]
struct UserBody {
    user_id: UserId,
}

#[derive(Serialize, Deserialize)]
struct Slots {
    slot_ids: Vec<SlotId>,
}

#[derive(Serialize, Deserialize)]
struct LiveSlots {
    slots: Vec<LiveSlot>,
}

/// Most slots asked about in one call.
const SLOTS_MAX: usize = 1000;

#[derive(Serialize, Deserialize)]
struct StageBody {
    user_id: Option<UserId>,
}

#[derive(Serialize, Deserialize)]
struct PolicyQuery {
    #[serde(default)]
    user_id: Option<UserId>,
}

#[derive(Serialize, Deserialize)]
struct Banned {
    banned: bool,
}

#[async_trait::async_trait]
impl RoomControl for RemoteRoomControl {
    async fn room(&self, room: RoomId) -> anyhow::Result<Option<RoomSummary>> {
        let path = format!("/internal/v1/rooms/{room}");
        match self.client.call::<(), RoomSummary>(Method::GET, &path, None, None).await {
            Ok(r) => Ok(Some(r)),
            Err(CallError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn released_slots(&self, slots: &[SlotId]) -> anyhow::Result<Vec<SlotId>> {
        let mut released = Vec::new();
        for chunk in slots.chunks(SLOTS_MAX) {
            let body = Slots { slot_ids: chunk.to_vec() };
            let answer: Slots =
                self.client.call(Method::POST, "/internal/v1/slots/released", Some(&body), None).await?;
            released.extend(answer.slot_ids);
        }
        Ok(released)
    }

    async fn live_slots(&self, slots: &[SlotId]) -> anyhow::Result<Vec<LiveSlot>> {
        let mut live = Vec::new();
        for chunk in slots.chunks(SLOTS_MAX) {
            let body = Slots { slot_ids: chunk.to_vec() };
            let answer: LiveSlots =
                self.client.call(Method::POST, "/internal/v1/slots/live", Some(&body), None).await?;
            live.extend(answer.slots);
        }
        Ok(live)
    }

    async fn end_room(&self, room: RoomId, reason: &str) -> anyhow::Result<bool> {
        let path = format!("/internal/v1/rooms/{room}/end");
        let body = EndBody { reason: reason.to_string() };
        let ended: Ended = self.client.call(Method::POST, &path, Some(&body), None).await?;
        Ok(ended.ended)
    }

    async fn heartbeat(&self, room: RoomId, user: UserId) -> anyhow::Result<()> {
        if let Some(beats) = &self.beats {
            let (done, wait) = oneshot::channel();
            beats
                .send((UserBeat { room_id: room, user_id: user }, done))
                .await
                .map_err(|_| anyhow::anyhow!("the heartbeat batcher stopped"))?;
            return wait
                .await
                .map_err(|_| anyhow::anyhow!("the heartbeat batcher stopped"))?
                .map_err(anyhow::Error::msg);
        }
        let path = format!("/internal/v1/rooms/{room}/heartbeat");
        self.client.call::<_, serde_json::Value>(Method::POST, &path, Some(&UserBody { user_id: user }), None).await?;
        Ok(())
    }

    async fn set_stage(&self, room: RoomId, user: Option<UserId>) -> anyhow::Result<()> {
        let path = format!("/internal/v1/rooms/{room}/stage");
        self.client.call::<_, serde_json::Value>(Method::PUT, &path, Some(&StageBody { user_id: user }), None).await?;
        Ok(())
    }

    async fn leave_stage(&self, room: RoomId, user: UserId) -> anyhow::Result<()> {
        let path = format!("/internal/v1/rooms/{room}/stage/leave");
        self.client.call::<_, serde_json::Value>(Method::POST, &path, Some(&UserBody { user_id: user }), None).await?;
        Ok(())
    }

    async fn policy(&self, room: RoomId, user: Option<UserId>) -> anyhow::Result<Option<RoomPolicy>> {
        let path = format!("/internal/v1/rooms/{room}/policy");
        match self.client.call::<_, RoomPolicy>(Method::POST, &path, Some(&PolicyQuery { user_id: user }), None).await {
            Ok(p) => Ok(Some(p)),
            Err(CallError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn banned_on_slot(&self, slot: SlotId, user: UserId) -> anyhow::Result<bool> {
        let path = format!("/internal/v1/slots/{slot}/banned");
        let answer: Banned = self.client.call(Method::POST, &path, Some(&UserBody { user_id: user }), None).await?;
        Ok(answer.banned)
    }

    async fn moderate(&self, request: ModerationRequest) -> Result<(), ModerationRefusal> {
        let path = format!("/internal/v1/rooms/{}/moderation", request.room_id);
        match self.client.call::<_, serde_json::Value>(Method::POST, &path, Some(&request), None).await {
            Ok(_) => Ok(()),
            Err(CallError::Status { status, code, body, .. }) if status < 500 => Err(ModerationRefusal::Refused {
                code: super::intern(&code).unwrap_or("refused"),
                message: body.get("message").and_then(|m| m.as_str()).unwrap_or("refused").to_string(),
            }),
            Err(e) => Err(ModerationRefusal::Unavailable(e.into())),
        }
    }
}

/// Serve `local` (the broker's own room control) at `/internal/v1/rooms`.
pub fn configure(cfg: &mut web::ServiceConfig, key: &ServiceKey, local: Arc<dyn RoomControl>) {
    cfg.service(
        web::resource("/internal/v1/slots/released")
            .app_data(web::Data::new(key.clone()))
            .app_data(web::Data::new(LocalContract(local.clone())))
            .route(web::post().to(released_slots)),
    );
    cfg.service(
        web::resource("/internal/v1/slots/live")
            .app_data(web::Data::new(key.clone()))
            .app_data(web::Data::new(LocalContract(local.clone())))
            .route(web::post().to(live_slots)),
    );
    cfg.service(
        web::resource("/internal/v1/heartbeats")
            .app_data(web::Data::new(key.clone()))
            .app_data(web::Data::new(LocalContract(local.clone())))
            .route(web::post().to(heartbeats)),
    );
    cfg.service(
        web::resource("/internal/v1/slots/{slot_id}/banned")
            .app_data(web::Data::new(key.clone()))
            .app_data(web::Data::new(LocalContract(local.clone())))
            .route(web::post().to(banned_on_slot)),
    );
    cfg.service(
        web::scope("/internal/v1/rooms")
            .app_data(web::Data::new(key.clone()))
            .app_data(web::Data::new(LocalContract(local)))
            .route("/{room_id}/policy", web::post().to(policy))
            .route("/{room_id}/moderation", web::post().to(moderate))
            .route("/{room_id}", web::get().to(get_room))
            .route("/{room_id}/end", web::post().to(end_room))
            .route("/{room_id}/heartbeat", web::post().to(heartbeat))
            .route("/{room_id}/stage", web::put().to(set_stage))
            .route("/{room_id}/stage/leave", web::post().to(leave_stage)),
    );
}

type Local = web::Data<LocalContract<dyn RoomControl>>;

const READERS: &[ServiceName] = &[ServiceName::Billing, ServiceName::Signaling, ServiceName::Broker];
const MEMBERS: &[ServiceName] = &[ServiceName::Signaling, ServiceName::Broker];

async fn get_room(caller: ServiceCaller, local: Local, path: web::Path<RoomId>) -> HttpResponse {
    if let Err(e) = caller.require(READERS) {
        return actix_web::ResponseError::error_response(&e);
    }
    match local.0.room(path.into_inner()).await {
        Ok(Some(r)) => HttpResponse::Ok().json(r),
        Ok(None) => crate::error::error_response(actix_web::http::StatusCode::NOT_FOUND, "not_found", "no such room"),
        Err(e) => internal_error("room lookup", &e),
    }
}

async fn end_room(
    caller: ServiceCaller,
    local: Local,
    path: web::Path<RoomId>,
    body: web::Json<EndBody>,
) -> HttpResponse {
    if let Err(e) = caller.require(READERS) {
        return actix_web::ResponseError::error_response(&e);
    }
    let reason = body.into_inner().reason;
    if reason.is_empty() || reason.len() > 64 || !reason.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return crate::error::error_response(
            actix_web::http::StatusCode::BAD_REQUEST,
            "invalid_value",
            "reason must be 1-64 of a-z and _",
        );
    }
    match local.0.end_room(path.into_inner(), &reason).await {
        Ok(ended) => HttpResponse::Ok().json(Ended { ended }),
        Err(e) => internal_error("end room", &e),
    }
}

async fn heartbeat(
    caller: ServiceCaller,
    local: Local,
    path: web::Path<RoomId>,
    body: web::Json<UserBody>,
) -> HttpResponse {
    if let Err(e) = caller.require(MEMBERS) {
        return actix_web::ResponseError::error_response(&e);
    }
    match local.0.heartbeat(path.into_inner(), body.user_id).await {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => internal_error("heartbeat", &e),
    }
}

async fn released_slots(caller: ServiceCaller, local: Local, body: web::Json<Slots>) -> HttpResponse {
    if let Err(e) = caller.require(&[ServiceName::Relay, ServiceName::Broker]) {
        return actix_web::ResponseError::error_response(&e);
    }
    if body.slot_ids.len() > SLOTS_MAX {
        return crate::error::error_response(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("at most {SLOTS_MAX} slots per call"),
        );
    }
    match local.0.released_slots(&body.slot_ids).await {
        Ok(slot_ids) => HttpResponse::Ok().json(Slots { slot_ids }),
        Err(e) => internal_error("released slots", &e),
    }
}

async fn live_slots(caller: ServiceCaller, local: Local, body: web::Json<Slots>) -> HttpResponse {
    if let Err(e) = caller.require(&[ServiceName::Relay, ServiceName::Broker]) {
        return actix_web::ResponseError::error_response(&e);
    }
    if body.slot_ids.len() > SLOTS_MAX {
        return crate::error::error_response(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("at most {SLOTS_MAX} slots per call"),
        );
    }
    match local.0.live_slots(&body.slot_ids).await {
        Ok(slots) => HttpResponse::Ok().json(LiveSlots { slots }),
        Err(e) => internal_error("live slots", &e),
    }
}

async fn heartbeats(caller: ServiceCaller, local: Local, body: web::Json<Beats>) -> HttpResponse {
    if let Err(e) = caller.require(MEMBERS) {
        return actix_web::ResponseError::error_response(&e);
    }
    if body.beats.len() > BATCH_MAX {
        return crate::error::error_response(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("at most {BATCH_MAX} heartbeats per call"),
        );
    }
    let results =
        futures_util::future::join_all(body.beats.iter().map(|b| local.0.heartbeat(b.room_id, b.user_id))).await;
    match results.into_iter().find_map(Result::err) {
        None => HttpResponse::NoContent().finish(),
        Some(e) => internal_error("heartbeats", &e),
    }
}

async fn set_stage(
    caller: ServiceCaller,
    local: Local,
    path: web::Path<RoomId>,
    body: web::Json<StageBody>,
) -> HttpResponse {
    if let Err(e) = caller.require(MEMBERS) {
        return actix_web::ResponseError::error_response(&e);
    }
    match local.0.set_stage(path.into_inner(), body.user_id).await {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => internal_error("set stage", &e),
    }
}

async fn leave_stage(
    caller: ServiceCaller,
    local: Local,
    path: web::Path<RoomId>,
    body: web::Json<UserBody>,
) -> HttpResponse {
    if let Err(e) = caller.require(MEMBERS) {
        return actix_web::ResponseError::error_response(&e);
    }
    match local.0.leave_stage(path.into_inner(), body.user_id).await {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => internal_error("leave stage", &e),
    }
}

async fn policy(
    caller: ServiceCaller,
    local: Local,
    path: web::Path<RoomId>,
    body: web::Json<PolicyQuery>,
) -> HttpResponse {
    if let Err(e) = caller.require(MEMBERS) {
        return actix_web::ResponseError::error_response(&e);
    }
    match local.0.policy(path.into_inner(), body.user_id).await {
        Ok(Some(p)) => HttpResponse::Ok().json(p),
        Ok(None) => crate::error::error_response(actix_web::http::StatusCode::NOT_FOUND, "not_found", "no such room"),
        Err(e) => internal_error("room policy", &e),
    }
}

async fn banned_on_slot(
    caller: ServiceCaller,
    local: Local,
    path: web::Path<SlotId>,
    body: web::Json<UserBody>,
) -> HttpResponse {
    if let Err(e) = caller.require(&[ServiceName::Relay, ServiceName::Broker]) {
        return actix_web::ResponseError::error_response(&e);
    }
    match local.0.banned_on_slot(path.into_inner(), body.user_id).await {
        Ok(banned) => HttpResponse::Ok().json(Banned { banned }),
        Err(e) => internal_error("slot ban check", &e),
    }
}

async fn moderate(
    caller: ServiceCaller,
    local: Local,
    path: web::Path<RoomId>,
    body: web::Json<ModerationRequest>,
) -> HttpResponse {
    if let Err(e) = caller.require(MEMBERS) {
        return actix_web::ResponseError::error_response(&e);
    }
    let request = body.into_inner();
    if request.room_id != path.into_inner() {
        return crate::error::error_response(
            actix_web::http::StatusCode::BAD_REQUEST,
            "invalid_value",
            "the body's room_id is not the path's",
        );
    }
    match local.0.moderate(request).await {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(ModerationRefusal::Refused { code, message }) => {
            let status = match code {
                "not_found" => actix_web::http::StatusCode::NOT_FOUND,
                "forbidden" => actix_web::http::StatusCode::FORBIDDEN,
                "room_ended" => actix_web::http::StatusCode::CONFLICT,
                _ => actix_web::http::StatusCode::BAD_REQUEST,
            };
            crate::error::error_response(status, code, message)
        }
        Err(ModerationRefusal::Unavailable(e)) => internal_error("moderation", &e),
    }
}
