//! A local stand-in for the Daydream API, following `DAYDREAM.md`: `POST /v1/streams` (201
//! stream), `PATCH /v1/streams/{id}`, `GET /v1/streams/{id}/status`, `DELETE /v1/streams?id=`,
//! bearer-key auth, error bodies `{success: false, error, code, status}`, refusal of unknown
//! `params` keys (the schema has `additionalProperties: false`), and scripted failures.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub const API_KEY: &str = "dd-test-key";

/// Every StreamDiffusion param the contract documents.
const KNOWN_PARAMS: &[&str] = &[
    "model_id",
    "prompt",
    "negative_prompt",
    "prompt_interpolation_method",
    "normalize_prompt_weights",
    "guidance_scale",
    "delta",
    "num_inference_steps",
    "t_index_list",
    "width",
    "height",
    "seed",
    "seed_interpolation_method",
    "normalize_seed_weights",
    "use_safety_checker",
    "lora_dict",
    "use_lcm_lora",
    "lcm_lora_id",
    "acceleration",
    "use_denoising_batch",
    "do_add_noise",
    "enable_similar_image_filter",
    "similar_image_filter_threshold",
    "similar_image_filter_max_skip_frame",
    "skip_diffusion",
    "controlnets",
    "ip_adapter",
    "ip_adapter_style_image_url",
];
const MODELS: &[&str] =
    &["stabilityai/sd-turbo", "stabilityai/sdxl-turbo", "Lykon/dreamshaper-8", "prompthero/openjourney-v4"];

#[derive(Default)]
pub struct State {
    /// Bodies of successful creates.
    pub created: Mutex<Vec<Value>>,
    /// Ids of live streams.
    pub live: Mutex<Vec<String>>,
    /// Ids passed to DELETE.
    pub deleted: Mutex<Vec<String>>,
    /// Successful PATCHes: stream id, body, when.
    pub patches: Mutex<Vec<(String, Value, Instant)>>,
    /// Every POST /v1/streams call, including failed ones.
    pub create_calls: AtomicUsize,
    /// Statuses to answer the next calls with (429 carries `Retry-After: 1`).
    pub script: Mutex<VecDeque<u16>>,
}

pub struct DaydreamStandIn {
    pub state: Arc<State>,
    pub base: String,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for DaydreamStandIn {
    fn drop(&mut self) {
        let h = self.handle.clone();
        tokio::spawn(async move { h.stop(false).await });
    }
}

fn error(status: u16, code: &str, message: &str) -> HttpResponse {
    let s = actix_web::http::StatusCode::from_u16(status).unwrap();
    HttpResponse::build(s).json(json!({"success": false, "error": message, "code": code, "status": status}))
}

/// Auth and the scripted failure, if any.
fn gate(req: &HttpRequest, state: &State) -> Option<HttpResponse> {
    if req.headers().get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {API_KEY}")) {
        return Some(error(401, "AUTH/UNAUTHORIZED", "Unauthorized"));
    }
    let scripted = state.script.lock().unwrap().pop_front()?;
    Some(match scripted {
        429 => {
            let mut r = error(429, "RATE_LIMIT/EXCEEDED", "Too many requests");
            r.headers_mut()
                .insert(actix_web::http::header::RETRY_AFTER, actix_web::http::header::HeaderValue::from_static("1"));
            r
        }
        400 => error(400, "VALIDATION/INVALID_PARAMS", "prompt was flagged by the safety filter"),
        s => error(s, "INTERNAL/ERROR", "Internal server error"),
    })
}

/// The contract's body checks (pipeline, params with a known model and known keys only): the
/// refusal, if any.
fn check_body(body: &Value) -> Option<HttpResponse> {
    if body["pipeline"] != "streamdiffusion" {
        return Some(error(400, "VALIDATION/INVALID_PIPELINE", "pipeline must be streamdiffusion"));
    }
    let Some(params) = body["params"].as_object() else {
        return Some(error(400, "VALIDATION/INVALID_PARAMS", "params is required"));
    };
    if !params.get("model_id").and_then(Value::as_str).is_some_and(|m| MODELS.contains(&m)) {
        return Some(error(400, "VALIDATION/INVALID_PARAMS", "params.model_id is required"));
    }
    if let Some(k) = params.keys().find(|k| !KNOWN_PARAMS.contains(&k.as_str())) {
        return Some(error(
            400,
            "VALIDATION/INVALID_PARAMS",
            &format!("params/{k} must NOT have additional properties"),
        ));
    }
    None
}

fn stream(id: &str, body: &Value) -> Value {
    json!({
        "id": id, "pipeline": "streamdiffusion", "params": body["params"], "name": body["name"],
        "stream_key": format!("sk_{id}"), "whip_url": format!("https://ai.example/live/video-to-video/sk_{id}/whip"),
        "output_playback_id": format!("pb{}", &id[..8]), "author": "test", "created_at": chrono::Utc::now().to_rfc3339(),
        "from_playground": false, "gateway_host": "gw.example", "is_smoke_test": false,
    })
}

async fn create(req: HttpRequest, state: web::Data<State>, body: web::Json<Value>) -> HttpResponse {
    state.create_calls.fetch_add(1, Ordering::SeqCst);
    if let Some(r) = gate(&req, &state) {
        return r;
    }
    if let Some(r) = check_body(&body) {
        return r;
    }
    let id = format!("str_{}", uuid::Uuid::new_v4().simple());
    state.created.lock().unwrap().push(body.0.clone());
    state.live.lock().unwrap().push(id.clone());
    HttpResponse::Created().json(stream(&id, &body))
}

async fn update(
    req: HttpRequest,
    state: web::Data<State>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> HttpResponse {
    if let Some(r) = gate(&req, &state) {
        return r;
    }
    if !state.live.lock().unwrap().contains(&id) {
        return error(404, "STREAMS/NOT_FOUND", "Stream not found");
    }
    if let Some(r) = check_body(&body) {
        return r;
    }
    state.patches.lock().unwrap().push((id.to_string(), body.0.clone(), Instant::now()));
    HttpResponse::Ok().json(stream(&id, &body))
}

async fn status(req: HttpRequest, state: web::Data<State>, id: web::Path<String>) -> HttpResponse {
    if let Some(r) = gate(&req, &state) {
        return r;
    }
    if !state.live.lock().unwrap().contains(&id) {
        return error(404, "STREAMS/NOT_FOUND", "Stream not found");
    }
    HttpResponse::Ok().json(json!({"success": true, "error": null, "data": {
        "stream_id": id.as_str(), "pipeline": "streamdiffusion",
        "orchestrator_info": {"address": "0xabc", "url": "https://o.example"},
        "inference_status": {"input_fps": 29.5, "output_fps": 24.0, "last_input_time": 0, "last_output_time": 0,
            "last_params": {}, "last_params_update_time": 0, "restart_count": 1, "last_restart_time": 0,
            "last_error": "orchestrator swapped"},
        "gateway_status": {"whep_url": "https://gw.example/whep", "error": null, "ingest_metrics": {}}
    }}))
}

#[derive(serde::Deserialize)]
struct DeleteQuery {
    id: String,
}

async fn delete(req: HttpRequest, state: web::Data<State>, q: web::Query<DeleteQuery>) -> HttpResponse {
    if let Some(r) = gate(&req, &state) {
        return r;
    }
    state.deleted.lock().unwrap().push(q.id.clone());
    let mut live = state.live.lock().unwrap();
    let Some(i) = live.iter().position(|s| *s == q.id) else {
        return error(404, "STREAMS/NOT_FOUND", "Stream not found");
    };
    live.remove(i);
    HttpResponse::Ok().json(json!({"success": true, "data": {}}))
}

impl DaydreamStandIn {
    pub fn start() -> Self {
        let state = Arc::new(State::default());
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/v1/streams", web::post().to(create))
                .route("/v1/streams", web::delete().to(delete))
                .route("/v1/streams/{id}", web::patch().to(update))
                .route("/v1/streams/{id}/status", web::get().to(status))
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .expect("bind stand-in");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { state, base: format!("http://{addr}"), handle }
    }

    pub fn patches(&self) -> Vec<(String, Value, Instant)> {
        self.state.patches.lock().unwrap().clone()
    }
}
