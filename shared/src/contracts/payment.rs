//! The [`PaymentGate`] contract over internal HTTP (`/internal/v1/payments`, served by billing).
//!
//! Refusals travel as error bodies: `402 insufficient_funds {needed, available}`,
//! `403 wallet_frozen`, `409 {code, message}` for any other stated refusal; a failure of billing
//! itself is a 5xx, which the caller sees as [`PaymentRefusal::Unavailable`].

use super::client::{CallError, InternalClient};
use super::{intern, LocalContract};
use crate::hooks::{PaymentGate, PaymentRefusal, PriceQuote};
use crate::ids::{RoomId, UserId};
use crate::service_auth::{ServiceCaller, ServiceKey, ServiceName};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;

/// Billing of another process.
pub struct RemotePaymentGate {
    client: InternalClient,
}

impl RemotePaymentGate {
    /// A gate calling `client` (whose target is billing).
    pub fn new(client: InternalClient) -> Self {
        Self { client }
    }
}

#[derive(Serialize, Deserialize)]
struct QuoteBody {
    fan_id: UserId,
    creator_id: UserId,
}

#[derive(Serialize, Deserialize)]
struct QuoteDoc {
    price_per_minute: i64,
    currency: String,
}

#[derive(Serialize, Deserialize)]
struct QuoteAnswer {
    quote: Option<QuoteDoc>,
}

#[derive(Serialize, Deserialize)]
struct StartBody {
    fan_id: UserId,
    creator_id: UserId,
    started_at: DateTime<Utc>,
    price_per_minute: i64,
}

#[derive(Serialize, Deserialize)]
struct TipBody {
    room_id: RoomId,
    from: UserId,
    amount: i64,
    note: Option<String>,
}

fn refusal(e: CallError) -> PaymentRefusal {
    match e {
        CallError::Status { status: 402, body, .. } => PaymentRefusal::InsufficientFunds {
            needed: body.get("needed").and_then(serde_json::Value::as_i64).unwrap_or(0),
            available: body.get("available").and_then(serde_json::Value::as_i64).unwrap_or(0),
        },
        CallError::Status { code, .. } if code == "wallet_frozen" => PaymentRefusal::WalletFrozen,
        CallError::Status { code, body, .. } => PaymentRefusal::Refused {
            code: intern(&code).unwrap_or("payment_refused"),
            message: body.get("message").and_then(|m| m.as_str()).unwrap_or("billing refused").to_string(),
        },
        e @ CallError::Unavailable { .. } => PaymentRefusal::Unavailable(e.into()),
    }
}

#[async_trait::async_trait]
impl PaymentGate for RemotePaymentGate {
    async fn quote_private(&self, fan: UserId, creator: UserId) -> Result<Option<PriceQuote>, PaymentRefusal> {
        let body = QuoteBody { fan_id: fan, creator_id: creator };
        let answer: QuoteAnswer =
            self.client.call(Method::POST, "/internal/v1/payments/quote", Some(&body), None).await.map_err(refusal)?;
        match answer.quote {
            None => Ok(None),
            Some(q) => {
                let currency = intern(&q.currency)
                    .ok_or_else(|| PaymentRefusal::Unavailable(anyhow::anyhow!("billing sent a malformed currency")))?;
                Ok(Some(PriceQuote { price_per_minute: q.price_per_minute, currency }))
            }
        }
    }

    async fn start_private(
        &self,
        room: RoomId,
        fan: UserId,
        creator: UserId,
        started_at: DateTime<Utc>,
        price_per_minute: i64,
    ) -> Result<(), PaymentRefusal> {
        let path = format!("/internal/v1/payments/private/{room}/start");
        let body = StartBody { fan_id: fan, creator_id: creator, started_at, price_per_minute };
        self.client.call::<_, serde_json::Value>(Method::POST, &path, Some(&body), None).await.map_err(refusal)?;
        Ok(())
    }

    async fn end_private(&self, room: RoomId) -> anyhow::Result<()> {
        let path = format!("/internal/v1/payments/private/{room}/end");
        self.client.call::<(), serde_json::Value>(Method::POST, &path, None, None).await?;
        Ok(())
    }

    async fn tip(
        &self,
        room: RoomId,
        from: UserId,
        amount: i64,
        note: Option<String>,
        idempotency_key: Option<String>,
    ) -> Result<(), PaymentRefusal> {
        // A retried call must apply once: without a caller's key, this call makes its own.
        let key = idempotency_key.unwrap_or_else(|| format!("internal:{}", uuid::Uuid::new_v4()));
        let body = TipBody { room_id: room, from, amount, note };
        self.client
            .call::<_, serde_json::Value>(Method::POST, "/internal/v1/payments/tips", Some(&body), Some(&key))
            .await
            .map_err(refusal)?;
        Ok(())
    }

    async fn creator_verified(&self, creator: UserId) -> anyhow::Result<bool> {
        let path = format!("/internal/v1/payments/verification/{creator}");
        let answer: Verified = self.client.call::<(), Verified>(Method::GET, &path, None, None).await?;
        Ok(answer.verified)
    }
}

#[derive(Serialize, Deserialize)]
struct Verified {
    verified: bool,
}

/// Serve `local` (billing's own gate) at `/internal/v1/payments`.
pub fn configure(cfg: &mut web::ServiceConfig, key: &ServiceKey, local: Arc<dyn PaymentGate>) {
    cfg.service(
        web::scope("/internal/v1/payments")
            .app_data(web::Data::new(key.clone()))
            .app_data(web::Data::new(LocalContract(local)))
            .route("/quote", web::post().to(quote))
            .route("/private/{room_id}/start", web::post().to(start))
            .route("/private/{room_id}/end", web::post().to(end))
            .route("/tips", web::post().to(tip))
            .route("/verification/{user_id}", web::get().to(verification)),
    );
}

async fn verification(caller: ServiceCaller, local: Local, path: web::Path<UserId>) -> HttpResponse {
    if let Err(r) = only(caller, &[ServiceName::Broker]) {
        return *r;
    }
    match local.0.creator_verified(path.into_inner()).await {
        Ok(verified) => HttpResponse::Ok().json(Verified { verified }),
        Err(e) => super::internal_error("verification", &e),
    }
}

type Local = web::Data<LocalContract<dyn PaymentGate>>;

fn refusal_response(r: PaymentRefusal) -> HttpResponse {
    match r {
        PaymentRefusal::InsufficientFunds { needed, available } => HttpResponse::PaymentRequired().json(json!({
            "code": "insufficient_funds",
            "message": format!("insufficient funds: {needed} needed, {available} available"),
            "needed": needed,
            "available": available,
        })),
        PaymentRefusal::WalletFrozen => {
            crate::error::error_response(StatusCode::FORBIDDEN, "wallet_frozen", "the wallet is frozen")
        }
        PaymentRefusal::Refused { code, message } => crate::error::error_response(StatusCode::CONFLICT, code, message),
        PaymentRefusal::Unavailable(e) => super::internal_error("payment", &e),
    }
}

fn only(caller: ServiceCaller, allowed: &[ServiceName]) -> Result<(), Box<HttpResponse>> {
    caller.require(allowed).map_err(|e| Box::new(actix_web::ResponseError::error_response(&e)))
}

async fn quote(caller: ServiceCaller, local: Local, body: web::Json<QuoteBody>) -> HttpResponse {
    if let Err(r) = only(caller, &[ServiceName::Broker]) {
        return *r;
    }
    match local.0.quote_private(body.fan_id, body.creator_id).await {
        Ok(q) => HttpResponse::Ok().json(QuoteAnswer {
            quote: q.map(|q| QuoteDoc { price_per_minute: q.price_per_minute, currency: q.currency.to_string() }),
        }),
        Err(r) => refusal_response(r),
    }
}

async fn start(
    caller: ServiceCaller,
    local: Local,
    path: web::Path<RoomId>,
    body: web::Json<StartBody>,
) -> HttpResponse {
    if let Err(r) = only(caller, &[ServiceName::Broker]) {
        return *r;
    }
    match local
        .0
        .start_private(path.into_inner(), body.fan_id, body.creator_id, body.started_at, body.price_per_minute)
        .await
    {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(r) => refusal_response(r),
    }
}

async fn end(caller: ServiceCaller, local: Local, path: web::Path<RoomId>) -> HttpResponse {
    if let Err(r) = only(caller, &[ServiceName::Broker]) {
        return *r;
    }
    match local.0.end_private(path.into_inner()).await {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => super::internal_error("settle", &e),
    }
}

async fn tip(caller: ServiceCaller, local: Local, req: HttpRequest, body: web::Json<TipBody>) -> HttpResponse {
    if let Err(r) = only(caller, &[ServiceName::Signaling]) {
        return *r;
    }
    let key = req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let TipBody { room_id, from, amount, note } = body.into_inner();
    match local.0.tip(room_id, from, amount, note, key).await {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(r) => refusal_response(r),
    }
}
