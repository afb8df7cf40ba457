//! A local stand-in for the part of Stripe's API billing calls (`POST /v1/checkout/sessions`),
//! speaking its documented contract: bearer secret key, form-encoded body, Checkout Session
//! object in the response. It records each request's form fields for assertions.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const SECRET_KEY: &str = "sk_test_standin";

#[derive(Clone, Default)]
pub struct Recorded {
    pub sessions: Arc<Mutex<Vec<HashMap<String, String>>>>,
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
            App::new().app_data(data.clone()).route("/v1/checkout/sessions", web::post().to(create_session))
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

    pub fn last_session(&self) -> HashMap<String, String> {
        self.recorded.sessions.lock().unwrap().last().cloned().expect("a session was created")
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
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {SECRET_KEY}")) {
        return HttpResponse::Unauthorized()
            .json(json!({"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}));
    }
    let fields: HashMap<String, String> = form.into_inner().into_iter().collect();
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
