//! A local stand-in for the part of Stripe's API billing calls (`POST /v1/checkout/sessions`,
//! `POST /v1/transfers`), speaking its documented contract: bearer secret key, form-encoded
//! body, the Checkout Session / Transfer object in the response, `{"error": {...}}` bodies on
//! failure. It records each request's form fields for assertions. Transfers honour
//! `Idempotency-Key` as Stripe does for completed requests (the same key replays the first
//! result instead of creating another transfer), and can be told to fail.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const SECRET_KEY: &str = "sk_test_standin";

/// How the next transfer requests fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferFailure {
    /// Answer 500 without creating anything (nothing stored under the idempotency key).
    Before,
    /// Create the transfer, then answer 500 as if the response were lost on the way back.
    AfterCreate,
}

#[derive(Clone, Default)]
pub struct Recorded {
    pub sessions: Arc<Mutex<Vec<HashMap<String, String>>>>,
    /// Every `POST /v1/transfers` received (form fields plus `idempotency_key`).
    pub transfer_requests: Arc<Mutex<Vec<HashMap<String, String>>>>,
    /// Transfers actually created: the response body per idempotency key, in creation order.
    pub transfers: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
    /// Failures to inject into the next transfer requests, first first.
    pub fail_transfers: Arc<Mutex<Vec<TransferFailure>>>,
    /// Every `POST /v1/identity/verification_sessions` received (form fields plus `id`).
    pub identity_sessions: Arc<Mutex<Vec<HashMap<String, String>>>>,
    /// How long creating a Checkout Session takes (a slow Stripe).
    pub session_delay: Arc<Mutex<std::time::Duration>>,
}

pub struct StripeStandIn {
    pub base_url: String,
    pub recorded: Recorded,
    handle: actix_web::dev::ServerHandle,
}

impl StripeStandIn {
    pub fn start() -> Self {
        let recorded = Recorded::default();
        let data = web::Data::new(recorded.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/v1/checkout/sessions", web::post().to(create_session))
                .route("/v1/transfers", web::post().to(create_transfer))
                .route("/v1/identity/verification_sessions", web::post().to(create_identity_session))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { base_url: format!("http://{addr}/"), recorded, handle }
    }

    /// Every Identity VerificationSession created.
    pub fn identity_sessions(&self) -> Vec<HashMap<String, String>> {
        self.recorded.identity_sessions.lock().unwrap().clone()
    }

    pub fn last_session(&self) -> HashMap<String, String> {
        self.recorded.sessions.lock().unwrap().last().cloned().expect("a session was created")
    }
}

impl StripeStandIn {
    /// Make every Checkout Session creation take `delay`.
    pub fn slow_sessions(&self, delay: std::time::Duration) {
        *self.recorded.session_delay.lock().unwrap() = delay;
    }

    /// Make the next transfer request fail this way.
    pub fn fail_next_transfer(&self, how: TransferFailure) {
        self.recorded.fail_transfers.lock().unwrap().push(how);
    }

    pub fn transfer_requests(&self) -> Vec<HashMap<String, String>> {
        self.recorded.transfer_requests.lock().unwrap().clone()
    }

    /// Transfers created (idempotency key, Transfer object).
    pub fn transfers(&self) -> Vec<(String, serde_json::Value)> {
        self.recorded.transfers.lock().unwrap().clone()
    }
}

impl Drop for StripeStandIn {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

async fn create_session(
    rec: web::Data<Recorded>,
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    if let Some(refused) = unauthorized(&req) {
        return refused;
    }
    let fields: HashMap<String, String> = form.into_inner().into_iter().collect();
    let delay = *rec.session_delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let id = format!("cs_test_{}", uuid::Uuid::new_v4().simple());
    let now = chrono::Utc::now().timestamp();
    let amount: i64 = fields.get("line_items[0][price_data][unit_amount]").and_then(|v| v.parse().ok()).unwrap_or(0);
    let currency = fields.get("line_items[0][price_data][currency]").cloned().unwrap_or_default();
    let body = json!({
        "id": id,
        "object": "checkout.session",
        "amount_subtotal": amount,
        "amount_total": amount,
        "automatic_tax": {"enabled": false, "liability": null, "provider": null, "status": null},
        "cancel_url": fields.get("cancel_url"),
        "client_reference_id": fields.get("client_reference_id"),
        "created": now,
        "currency": currency,
        "custom_fields": [],
        "custom_text": {"after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null},
        "expires_at": now + 86_400,
        "livemode": false,
        "metadata": {"user_id": fields.get("metadata[user_id]")},
        "mode": fields.get("mode"),
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "shipping_options": [],
        "status": "open",
        "success_url": fields.get("success_url"),
        "url": format!("https://checkout.stripe.com/c/pay/{id}"),
    });
    let mut fields = fields;
    fields.insert("id".into(), id);
    if let Some(key) = req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()) {
        fields.insert("idempotency_key".into(), key.into());
    }
    rec.sessions.lock().unwrap().push(fields);
    HttpResponse::Ok().json(body)
}

/// `POST /v1/identity/verification_sessions`: the VerificationSession object of
/// https://docs.stripe.com/api/identity/verification_sessions/object (trimmed).
async fn create_identity_session(
    rec: web::Data<Recorded>,
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    if let Some(refused) = unauthorized(&req) {
        return refused;
    }
    let mut fields: HashMap<String, String> = form.into_inner().into_iter().collect();
    if fields.get("type").map(String::as_str) != Some("document") {
        return HttpResponse::BadRequest()
            .json(json!({"error": {"type": "invalid_request_error", "message": "type must be document"}}));
    }
    let id = format!("vs_test_{}", uuid::Uuid::new_v4().simple());
    let body = json!({
        "id": id,
        "object": "identity.verification_session",
        "client_secret": format!("{id}_secret_x"),
        "created": chrono::Utc::now().timestamp(),
        "last_error": null,
        "livemode": false,
        "metadata": {"user_id": fields.get("metadata[user_id]")},
        "status": "requires_input",
        "type": "document",
        "url": format!("https://verify.stripe.com/start/{id}"),
    });
    fields.insert("id".into(), id);
    rec.identity_sessions.lock().unwrap().push(fields);
    HttpResponse::Ok().json(body)
}

fn unauthorized(req: &HttpRequest) -> Option<HttpResponse> {
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok());
    (auth != Some(&format!("Bearer {SECRET_KEY}"))).then(|| {
        HttpResponse::Unauthorized()
            .json(json!({"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}))
    })
}

/// `POST /v1/transfers`: the Transfer object of https://docs.stripe.com/api/transfers/object.
async fn create_transfer(
    rec: web::Data<Recorded>,
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    if let Some(refused) = unauthorized(&req) {
        return refused;
    }
    let mut fields: HashMap<String, String> = form.into_inner().into_iter().collect();
    let key = req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string);
    if let Some(key) = &key {
        fields.insert("idempotency_key".into(), key.clone());
    }
    rec.transfer_requests.lock().unwrap().push(fields.clone());
    let failure = {
        let mut fail = rec.fail_transfers.lock().unwrap();
        (!fail.is_empty()).then(|| fail.remove(0))
    };
    let server_error = || {
        HttpResponse::InternalServerError()
            .json(json!({"error": {"type": "api_error", "message": "An unknown error occurred"}}))
    };
    if failure == Some(TransferFailure::Before) {
        return server_error();
    }
    let mut transfers = rec.transfers.lock().unwrap();
    if let Some(key) = &key {
        if let Some((_, body)) = transfers.iter().find(|(k, _)| k == key) {
            let body = body.clone();
            drop(transfers);
            return if failure.is_some() {
                server_error()
            } else {
                HttpResponse::Ok().insert_header(("idempotent-replayed", "true")).json(body)
            };
        }
    }
    let (Some(amount), Some(currency), Some(destination)) =
        (fields.get("amount").and_then(|a| a.parse::<i64>().ok()), fields.get("currency"), fields.get("destination"))
    else {
        return HttpResponse::BadRequest().json(json!({"error": {
            "type": "invalid_request_error", "message": "Missing required param: amount, currency or destination."
        }}));
    };
    let id = format!("tr_{}", uuid::Uuid::new_v4().simple());
    let metadata: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("metadata[").and_then(|k| k.strip_suffix(']')).map(|k| (k.to_string(), json!(v)))
        })
        .collect();
    let body = json!({
        "id": id,
        "object": "transfer",
        "amount": amount,
        "amount_reversed": 0,
        "balance_transaction": format!("txn_{}", uuid::Uuid::new_v4().simple()),
        "created": chrono::Utc::now().timestamp(),
        "currency": currency,
        "description": fields.get("description"),
        "destination": destination,
        "destination_payment": format!("py_{}", uuid::Uuid::new_v4().simple()),
        "livemode": false,
        "metadata": metadata,
        "reversals": {"object": "list", "data": [], "has_more": false, "total_count": 0, "url": format!("/v1/transfers/{id}/reversals")},
        "reversed": false,
        "source_transaction": null,
        "source_type": "card",
        "transfer_group": fields.get("transfer_group"),
    });
    transfers.push((key.unwrap_or_default(), body.clone()));
    drop(transfers);
    if failure == Some(TransferFailure::AfterCreate) {
        return server_error();
    }
    HttpResponse::Ok().json(body)
}
