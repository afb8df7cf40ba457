//! The [`AuditLog`] contract over internal HTTP (`POST /internal/v1/audit`, served by the
//! broker, which keeps the log).

use super::client::InternalClient;
use super::{internal_error, LocalContract};
use crate::audit::{AuditEntry, AuditLog};
use crate::service_auth::{ServiceCaller, ServiceKey, ServiceName};
use actix_web::{web, HttpResponse};
use reqwest::Method;
use std::sync::Arc;

/// The audit log of another process (the broker).
pub struct RemoteAuditLog {
    client: InternalClient,
}

impl RemoteAuditLog {
    /// A log calling `client` (whose target is the broker).
    pub fn new(client: InternalClient) -> Self {
        Self { client }
    }
}

#[async_trait::async_trait]
impl AuditLog for RemoteAuditLog {
    async fn record(&self, entry: AuditEntry) -> anyhow::Result<()> {
        // One key per entry: a retried call appends it once.
        let key = uuid::Uuid::new_v4().to_string();
        self.client.call::<_, serde_json::Value>(Method::POST, "/internal/v1/audit", Some(&entry), Some(&key)).await?;
        Ok(())
    }
}

/// Serve `local` (the broker's log) at `POST /internal/v1/audit`.
pub fn configure(cfg: &mut web::ServiceConfig, key: &ServiceKey, local: Arc<dyn AuditLog>) {
    cfg.service(
        web::resource("/internal/v1/audit")
            .app_data(web::Data::new(key.clone()))
            .app_data(web::Data::new(LocalContract(local)))
            .route(web::post().to(record)),
    );
}

async fn record(
    caller: ServiceCaller,
    local: web::Data<LocalContract<dyn AuditLog>>,
    req: actix_web::HttpRequest,
    body: web::Json<AuditEntry>,
) -> HttpResponse {
    if let Err(e) = caller.require(&[ServiceName::Billing, ServiceName::Signaling, ServiceName::Broker]) {
        return actix_web::ResponseError::error_response(&e);
    }
    let mut entry = body.into_inner();
    if let Some(k) = req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()) {
        if let serde_json::Value::Object(m) = &mut entry.details {
            // The caller's own key (one per action) wins over the per-call one.
            m.entry("idempotency_key").or_insert_with(|| serde_json::Value::String(k.chars().take(64).collect()));
        } else if entry.details.is_null() {
            entry.details = serde_json::json!({ "idempotency_key": k.chars().take(64).collect::<String>() });
        }
    }
    match local.0.record(entry).await {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => internal_error("audit", &e),
    }
}
