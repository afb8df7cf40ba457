//! The [`AiControl`] contract over internal HTTP (`/internal/v1/rooms/{id}/ai`, served by the
//! broker; signaling calls it for audience rounds and the host's audio).

use super::client::{CallError, InternalClient};
use super::{intern, internal_error, LocalContract};
use crate::events::AiSource;
use crate::hooks::{AiControl, AiRefusal, AiSummary};
use crate::ids::{RoomId, UserId};
use crate::service_auth::{ServiceCaller, ServiceKey, ServiceName};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// AI control of another process (the broker).
pub struct RemoteAiControl {
    client: InternalClient,
}

impl RemoteAiControl {
    /// AI control calling `client` (whose target is the broker).
    pub fn new(client: InternalClient) -> Self {
        Self { client }
    }
}

#[derive(Serialize, Deserialize)]
struct PromptBody {
    prompt: String,
    source: AiSource,
}

#[derive(Serialize, Deserialize)]
struct AudioBody {
    user_id: UserId,
    level: f64,
    #[serde(default)]
    beat: bool,
}

fn refusal(e: CallError) -> AiRefusal {
    match e {
        CallError::Status { status, code, body, .. } if (400..500).contains(&status) => {
            let message = body.get("message").and_then(|m| m.as_str()).unwrap_or_default().to_string();
            match intern(&code) {
                Some(code) => AiRefusal::Refused { code, message },
                None => AiRefusal::Unavailable(anyhow::anyhow!("broker answered {status} {code}")),
            }
        }
        other => AiRefusal::Unavailable(other.into()),
    }
}

#[async_trait::async_trait]
impl AiControl for RemoteAiControl {
    async fn ai(&self, room: RoomId) -> anyhow::Result<Option<AiSummary>> {
        let path = format!("/internal/v1/rooms/{room}/ai");
        match self.client.call::<(), AiSummary>(Method::GET, &path, None, None).await {
            Ok(a) => Ok(Some(a)),
            Err(CallError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn apply_prompt(
        &self,
        room: RoomId,
        prompt: &str,
        source: AiSource,
        apply_key: Option<&str>,
    ) -> Result<AiSummary, AiRefusal> {
        let path = format!("/internal/v1/rooms/{room}/ai/prompt");
        let body = PromptBody { prompt: prompt.to_string(), source };
        self.client.call(Method::POST, &path, Some(&body), apply_key).await.map_err(refusal)
    }

    async fn audio(&self, room: RoomId, user: UserId, level: f64, beat: bool) -> Result<(), AiRefusal> {
        let path = format!("/internal/v1/rooms/{room}/ai/audio");
        let body = AudioBody { user_id: user, level, beat };
        self.client.call::<_, serde_json::Value>(Method::POST, &path, Some(&body), None).await.map_err(refusal)?;
        Ok(())
    }
}

/// Serve `local` (the broker's own AI control) at `/internal/v1/rooms/{id}/ai`.
pub fn configure(cfg: &mut web::ServiceConfig, key: &ServiceKey, local: Arc<dyn AiControl>) {
    cfg.service(
        web::scope("/internal/v1/rooms/{room_id}/ai")
            .app_data(web::Data::new(key.clone()))
            .app_data(web::Data::new(LocalContract(local)))
            .route("", web::get().to(get_ai))
            .route("/prompt", web::post().to(apply_prompt))
            .route("/audio", web::post().to(audio)),
    );
}

type Local = web::Data<LocalContract<dyn AiControl>>;

const CALLERS: &[ServiceName] = &[ServiceName::Signaling, ServiceName::Broker];

fn refused(e: AiRefusal, what: &str) -> HttpResponse {
    match e {
        AiRefusal::Refused { code, message } => {
            let status = match code {
                "not_found" => StatusCode::NOT_FOUND,
                "forbidden" => StatusCode::FORBIDDEN,
                "room_ended" => StatusCode::CONFLICT,
                _ => StatusCode::BAD_REQUEST,
            };
            crate::error::error_response(status, code, message)
        }
        AiRefusal::Unavailable(e) => internal_error(what, &e),
    }
}

async fn get_ai(caller: ServiceCaller, local: Local, path: web::Path<RoomId>) -> HttpResponse {
    if let Err(e) = caller.require(CALLERS) {
        return actix_web::ResponseError::error_response(&e);
    }
    match local.0.ai(path.into_inner()).await {
        Ok(Some(a)) => HttpResponse::Ok().json(a),
        Ok(None) => crate::error::error_response(StatusCode::NOT_FOUND, "not_found", "no AI effect on this room"),
        Err(e) => internal_error("ai lookup", &e),
    }
}

async fn apply_prompt(
    caller: ServiceCaller,
    local: Local,
    req: actix_web::HttpRequest,
    path: web::Path<RoomId>,
    body: web::Json<PromptBody>,
) -> HttpResponse {
    if let Err(e) = caller.require(CALLERS) {
        return actix_web::ResponseError::error_response(&e);
    }
    let key = req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).filter(|k| k.len() <= 128);
    match local.0.apply_prompt(path.into_inner(), &body.prompt, body.source, key).await {
        Ok(a) => HttpResponse::Ok().json(a),
        Err(e) => refused(e, "apply prompt"),
    }
}

async fn audio(
    caller: ServiceCaller,
    local: Local,
    path: web::Path<RoomId>,
    body: web::Json<AudioBody>,
) -> HttpResponse {
    if let Err(e) = caller.require(CALLERS) {
        return actix_web::ResponseError::error_response(&e);
    }
    match local.0.audio(path.into_inner(), body.user_id, body.level, body.beat).await {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => refused(e, "audio"),
    }
}
