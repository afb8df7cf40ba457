//! A local stand-in for the Livepeer Studio API: `POST /stream` (201 Stream), `DELETE
//! /stream/{id}` (204), bearer-key auth, `{"errors": [...]}` error bodies, scripted failures.

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
