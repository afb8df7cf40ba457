//! `GET /healthz` (process up) and `GET /readyz` (Postgres and Redis reachable, not draining).

use crate::server::Core;
use actix_web::{web, HttpResponse};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Mount the health routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz)).route("/readyz", web::get().to(readyz));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(core: web::Data<Core>) -> HttpResponse {
    let timeout = Duration::from_secs(2);
    let pg = tokio::time::timeout(timeout, sqlx::query("select 1").execute(&core.db));
    let redis = tokio::time::timeout(timeout, core.redis.ping());
    let (pg, redis) = tokio::join!(pg, redis);
    let postgres_ok = matches!(pg, Ok(Ok(_)));
    let redis_ok = matches!(redis, Ok(Ok(())));
    let draining = core.draining.load(Ordering::Relaxed);
    let body = serde_json::json!({
        "status": if postgres_ok && redis_ok && !draining { "ready" } else { "unavailable" },
        "postgres": postgres_ok,
        "redis": redis_ok,
        "draining": draining,
    });
    if postgres_ok && redis_ok && !draining {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
