//! Provider webhooks and the relay's internal slot-state reports.

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::presence;
use crate::provider::livepeer::{check_webhook_header, verify_webhook_body, WebhookError};
use crate::routes::ErrorDoc;
use crate::store;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use tandem_shared::ids::SlotId;
use tandem_shared::media_token::SLOT_STATE_SIGNATURE_HEADER;
use utoipa::ToSchema;

/// Largest Livepeer delivery accepted (they are a few KB).
pub(crate) const WEBHOOK_LIMIT: usize = 64 * 1024;
/// Largest accepted skew of a relay report's `ts`, seconds.
const REPORT_TOLERANCE_SECS: i64 = 60;

/// Livepeer Studio webhook: verifies `Livepeer-Signature`, refuses stale and replayed deliveries,
/// records `stream.started` / `stream.idle` against the slot and `multistream.*` as the status of
/// a showcase's multistream target. Other events are acknowledged.
/// The header is checked (bounded, fresh) before the body is read, and the body hashed once.
#[utoipa::path(post, path = "/v1/webhooks/livepeer", tag = "webhooks",
    request_body(content = String, content_type = "application/json", description = "Livepeer delivery (raw bytes are signed)"),
    responses((status = 204), (status = 400, body = ErrorDoc, description = "`invalid_input`: malformed delivery"),
        (status = 401, body = ErrorDoc, description = "invalid_signature or stale"),
        (status = 404, body = ErrorDoc, description = "`not_found`: no webhook secret configured"),
        (status = 413, body = ErrorDoc, description = "payload_too_large (over 64 KB)"),
        (status = 409, body = ErrorDoc, description = "duplicate_delivery"), (status = 503, body = ErrorDoc)))]
pub async fn livepeer(
    broker: web::Data<Broker>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, BrokerError> {
    let Some(secret) = broker.settings.livepeer_webhook_secret.as_deref() else {
        return Err(BrokerError::NotFound("webhook"));
    };
    let header = req.headers().get("livepeer-signature").and_then(|v| v.to_str().ok());
    let now_ms = chrono::Utc::now().timestamp_millis();
    let parsed = check_webhook_header(header, now_ms, broker.settings.webhook_tolerance).map_err(refused)?;
    let body = tandem_shared::webhook::read_body(&req, payload, WEBHOOK_LIMIT).await?;
    let delivery = verify_webhook_body(&parsed, secret, &body).map_err(refused)?;
    // Remember the delivery for twice the tolerance: older replays already fail as stale.
    let ttl = broker.settings.webhook_tolerance * 2;
    if !presence::first_delivery(&broker.core.redis, &delivery.id, ttl).await? {
        return Err(BrokerError::conflict("duplicate_delivery", "this delivery was already processed"));
    }
    if let Some(target) = delivery.multistream_target().filter(|_| delivery.event.starts_with("multistream.")) {
        if let Err(e) = broker.multistream_event(&delivery.event, target).await {
            let _ = presence::forget_delivery(&broker.core.redis, &delivery.id).await;
            return Err(e);
        }
        return Ok(HttpResponse::NoContent().finish());
    }
    let publishing = match delivery.event.as_str() {
        "stream.started" => Some(true),
        "stream.idle" => Some(false),
        _ => None,
    };
    if let (Some(publishing), Some(stream)) = (publishing, &delivery.stream) {
        let outcome = async {
            if let Some(slot) = store::slot_by_stream(&broker.core.db, &stream.id).await? {
                broker.set_slot_state(slot, publishing).await?;
            }
            Ok::<_, BrokerError>(())
        }
        .await;
        if let Err(e) = outcome {
            // Let Livepeer's retry through.
            let _ = presence::forget_delivery(&broker.core.redis, &delivery.id).await;
            return Err(e);
        }
    }
    Ok(HttpResponse::NoContent().finish())
}

fn refused(e: WebhookError) -> BrokerError {
    metrics::counter!("broker_webhooks_refused_total", "why" => format!("{e:?}")).increment(1);
    match e {
        WebhookError::MissingSignature | WebhookError::BadSignature => {
            BrokerError::Signature("invalid Livepeer-Signature")
        }
        WebhookError::Stale => BrokerError::Signature("stale delivery"),
        WebhookError::BadBody => BrokerError::Validation("malformed webhook body".into()),
    }
}

/// Body of `POST /internal/v1/slots/{slot_id}/state`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotStateReport {
    /// Whether the slot is now receiving media.
    pub publishing: bool,
    /// Unix seconds when the report was signed.
    pub ts: i64,
}

/// The relay reports a slot starting or stopping to publish. Authorized by
/// `X-Tandem-Signature`, a hex HMAC-SHA256 of `slot-state|<slot_id>|<publishing>|<ts>` with the
/// media key (see `tandem_shared::media_token`), not by a user token. An internal route: never
/// routed by nginx or the Ingress, so not in the public API document.
pub async fn slot_state(
    broker: web::Data<Broker>,
    req: HttpRequest,
    slot: web::Path<SlotId>,
    body: web::Json<SlotStateReport>,
) -> Result<HttpResponse, BrokerError> {
    let sig = req.headers().get(SLOT_STATE_SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !broker.media_key.verify_slot_state(*slot, body.publishing, body.ts, sig) {
        return Err(BrokerError::Signature("invalid X-Tandem-Signature"));
    }
    if (chrono::Utc::now().timestamp() - body.ts).abs() > REPORT_TOLERANCE_SECS {
        return Err(BrokerError::Signature("stale report"));
    }
    if !store::slot_exists(&broker.core.db, *slot).await? {
        return Err(BrokerError::NotFound("slot"));
    }
    broker.set_slot_state(*slot, body.publishing).await?;
    Ok(HttpResponse::NoContent().finish())
}
