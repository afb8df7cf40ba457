//! A local stand-in for the Livepeer Studio API: `POST /stream` (201 Stream), `DELETE
//! /stream/{id}` (204), the multistream API (`POST /multistream/target`, `DELETE
//! /multistream/target/{id}`, `POST /stream/{id}/create-multistream-target`, `DELETE
//! /stream/{id}/multistream/{targetId}`, bodies checked against the contract's schemas), bearer-key
//! auth, `{"errors": [...]}` error bodies, scripted failures.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub const API_KEY: &str = "test-key";

#[derive(Default)]
pub struct State {
    /// Bodies of successful creates, in order.
    pub created: Mutex<Vec<Value>>,
    /// Ids of created streams, in order.
    pub created_ids: Mutex<Vec<String>>,
    /// Ids passed to DELETE.
    pub deleted: Mutex<Vec<String>>,
    /// Every POST /stream call, including failed ones.
    pub create_calls: AtomicUsize,
    /// Fail creates whose name ends with this (HTTP 500) — the "second create fails" script.
    pub fail_suffix: Mutex<Option<String>>,
    /// Answer this many next creates with 503 + `Retry-After: 1`.
    pub busy: AtomicUsize,
    /// Streams `GET /stream/{id}` reports as active.
    pub active: Mutex<Vec<String>>,
    /// Multistream targets: id → create body.
    pub targets: Mutex<Vec<(String, Value)>>,
    /// Deleted multistream target ids.
    pub deleted_targets: Mutex<Vec<String>>,
    /// `(stream id, add body)` of every target added to a stream.
    pub stream_targets: Mutex<Vec<(String, Value)>>,
    /// `(stream id, target id)` removed from streams.
    pub removed_stream_targets: Mutex<Vec<(String, String)>>,
}

pub struct StandIn {
    pub state: Arc<State>,
    pub base: String,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let h = self.handle.clone();
        tokio::spawn(async move { h.stop(false).await });
    }
}

fn authorized(req: &HttpRequest) -> bool {
    req.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {API_KEY}"))
}

fn base36(n: usize) -> String {
    let alphabet = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..n).map(|_| alphabet[rand::random::<usize>() % 36] as char).collect()
}

async fn create(req: HttpRequest, state: web::Data<State>, body: web::Json<Value>) -> HttpResponse {
    state.create_calls.fetch_add(1, Ordering::SeqCst);
    if !authorized(&req) {
        return HttpResponse::Unauthorized().json(json!({"errors": ["Unauthorized"]}));
    }
    if state.busy.load(Ordering::SeqCst) > 0 {
        state.busy.fetch_sub(1, Ordering::SeqCst);
        return HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "1"))
            .json(json!({"errors": ["busy"]}));
    }
    let Some(name) = body["name"].as_str() else {
        return HttpResponse::UnprocessableEntity().json(json!({"errors": ["name is required"]}));
    };
    if let Some(suffix) = state.fail_suffix.lock().unwrap().as_deref() {
        if name.ends_with(suffix) {
            return HttpResponse::InternalServerError().json(json!({"errors": ["internal error"]}));
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
    state.created.lock().unwrap().push(body.0.clone());
    state.created_ids.lock().unwrap().push(id.clone());
    let key = format!("{}-{}-{}-{}", base36(4), base36(4), base36(4), base36(4));
    HttpResponse::Created().json(json!({
        "id": id, "name": name, "streamKey": key, "playbackId": base36(16),
        "isActive": false, "createdAt": chrono::Utc::now().timestamp_millis(),
        "profiles": body["profiles"], "userTags": body["userTags"], "creatorId": body["creatorId"],
    }))
}

async fn delete(req: HttpRequest, state: web::Data<State>, id: web::Path<String>) -> HttpResponse {
    if !authorized(&req) {
        return HttpResponse::Unauthorized().json(json!({"errors": ["Unauthorized"]}));
    }
    let known = state.created_ids.lock().unwrap().contains(&id);
    state.deleted.lock().unwrap().push(id.into_inner());
    if known {
        HttpResponse::NoContent().finish()
    } else {
        HttpResponse::NotFound().json(json!({"errors": ["not found"]}))
    }
}

async fn get(req: HttpRequest, state: web::Data<State>, id: web::Path<String>) -> HttpResponse {
    if !authorized(&req) {
        return HttpResponse::Unauthorized().json(json!({"errors": ["Unauthorized"]}));
    }
    if !state.created_ids.lock().unwrap().contains(&id) {
        return HttpResponse::NotFound().json(json!({"errors": ["not found"]}));
    }
    let active = state.active.lock().unwrap().contains(&id);
    HttpResponse::Ok().json(json!({"id": id.into_inner(), "isActive": active, "isHealthy": null}))
}

/// `multistream-target`: `url` required and matching `^(srt|rtmps?)://`; only `name`, `url`,
/// `disabled` (no additional properties).
async fn create_target(req: HttpRequest, state: web::Data<State>, body: web::Json<Value>) -> HttpResponse {
    if !authorized(&req) {
        return HttpResponse::Unauthorized().json(json!({"errors": ["Unauthorized"]}));
    }
    let Some(obj) = body.as_object() else {
        return HttpResponse::UnprocessableEntity().json(json!({"errors": ["body must be an object"]}));
    };
    if obj.keys().any(|k| !["name", "url", "disabled"].contains(&k.as_str())) {
        return HttpResponse::UnprocessableEntity().json(json!({"errors": ["additional properties"]}));
    }
    let url = obj.get("url").and_then(|u| u.as_str()).unwrap_or_default();
    if !(url.starts_with("rtmp://") || url.starts_with("rtmps://") || url.starts_with("srt://")) {
        return HttpResponse::UnprocessableEntity().json(json!({"errors": ["url must match ^(srt|rtmps?)://"]}));
    }
    let id = uuid::Uuid::new_v4().to_string();
    state.targets.lock().unwrap().push((id.clone(), body.0.clone()));
    // As the real API: `url` is write-only, never in a response.
    HttpResponse::Created()
        .json(json!({"id": id, "name": obj.get("name"), "createdAt": chrono::Utc::now().timestamp_millis()}))
}

async fn delete_target(req: HttpRequest, state: web::Data<State>, id: web::Path<String>) -> HttpResponse {
    if !authorized(&req) {
        return HttpResponse::Unauthorized().json(json!({"errors": ["Unauthorized"]}));
    }
    state.deleted_targets.lock().unwrap().push(id.into_inner());
    HttpResponse::NoContent().finish()
}

/// `target-add-payload`: `profile` required; `id` of an existing target (or an inline `spec`);
/// only `profile`, `videoOnly`, `id`, `spec`.
async fn add_stream_target(
    req: HttpRequest,
    state: web::Data<State>,
    stream: web::Path<String>,
    body: web::Json<Value>,
) -> HttpResponse {
    if !authorized(&req) {
        return HttpResponse::Unauthorized().json(json!({"errors": ["Unauthorized"]}));
    }
    if !state.created_ids.lock().unwrap().contains(&stream) {
        return HttpResponse::NotFound().json(json!({"errors": ["stream not found"]}));
    }
    let Some(obj) = body.as_object() else {
        return HttpResponse::UnprocessableEntity().json(json!({"errors": ["body must be an object"]}));
    };
    if obj.keys().any(|k| !["profile", "videoOnly", "id", "spec"].contains(&k.as_str())) || obj.get("profile").is_none()
    {
        return HttpResponse::UnprocessableEntity()
            .json(json!({"errors": ["profile is required; no additional properties"]}));
    }
    let id = obj.get("id").and_then(|v| v.as_str()).unwrap_or_default();
    if !state.targets.lock().unwrap().iter().any(|(t, _)| t == id) {
        return HttpResponse::NotFound().json(json!({"errors": ["multistream target not found"]}));
    }
    state.stream_targets.lock().unwrap().push((stream.into_inner(), body.0.clone()));
    HttpResponse::NoContent().finish()
}

async fn remove_stream_target(
    req: HttpRequest,
    state: web::Data<State>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    if !authorized(&req) {
        return HttpResponse::Unauthorized().json(json!({"errors": ["Unauthorized"]}));
    }
    state.removed_stream_targets.lock().unwrap().push(path.into_inner());
    HttpResponse::NoContent().finish()
}

impl StandIn {
    pub fn start() -> Self {
        let state = Arc::new(State::default());
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/api/stream", web::post().to(create))
                .route("/api/stream/{id}", web::delete().to(delete))
                .route("/api/stream/{id}", web::get().to(get))
                .route("/api/multistream/target", web::post().to(create_target))
                .route("/api/multistream/target/{id}", web::delete().to(delete_target))
                .route("/api/stream/{id}/create-multistream-target", web::post().to(add_stream_target))
                .route("/api/stream/{id}/multistream/{target_id}", web::delete().to(remove_stream_target))
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .expect("bind stand-in");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { state, base: format!("http://{addr}/api"), handle }
    }
}
