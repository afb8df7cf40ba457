use crate::helpers::{code_of, ClockExt, TestApp, WEBHOOK_SECRET};
use crate::stripe_standin::StripeStandIn;
use serde_json::{json, Value};
use tandem_billing::signature::sign;
use tandem_shared::ids::{Role, UserId};

/// A `checkout.session.completed` event as Stripe sends it (trimmed to what matters).
fn completed_event(event_id: &str, session_id: &str, user: UserId, amount: i64, payment_intent: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": event_id,
        "object": "event",
        "api_version": "2025-09-30.clover",
        "created": chrono::Utc::now().timestamp(),
        "type": "checkout.session.completed",
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "data": {"object": {
            "id": session_id,
            "object": "checkout.session",
            "amount_total": amount,
            "currency": "usd",
            "client_reference_id": user.to_string(),
            "metadata": {"user_id": user.to_string()},
            "mode": "payment",
            "payment_intent": payment_intent,
            "payment_status": "paid",
            "status": "complete"
        }}
    }))
    .unwrap()
}

async fn deliver(app: &TestApp, body: &[u8], signature: Option<String>) -> reqwest::Response {
    let mut req =
        app.http.post(app.url("/v1/webhooks/stripe")).header("content-type", "application/json").body(body.to_vec());
    if let Some(sig) = signature {
        req = req.header("Stripe-Signature", sig);
    }
    req.send().await.expect("webhook sent")
}

/// Sign the way Stripe's libraries do (`t=..,v1=..`), with an extra v1 from a rolled secret
/// and a v0 element, which must be tolerated.
fn stripe_header(body: &[u8], at: i64) -> String {
    let current = sign(body, WEBHOOK_SECRET, at);
    let old = sign(body, "whsec_previous_secret", at);
    let old_v1 = old.split_once(",v1=").map(|(_, v)| v.to_string()).unwrap();
    format!("{},v1={old_v1},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39", current)
}

async fn checkout(app: &TestApp, token: &str, amount: i64) -> Value {
    let res = app.post("/v1/wallet/top-ups", token, json!({"amount": amount})).await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

#[tokio::test]
async fn top_up_creates_a_checkout_session_and_a_signed_webhook_credits_once() {
    let stripe = StripeStandIn::start();
    let app = TestApp::spawn_with(Some(&stripe.base_url)).await;
    let (fan, token) = app.user(Role::Fan).await;

    let session = checkout(&app, &token, 2_500).await;
    assert!(session["url"].as_str().unwrap().starts_with("https://checkout.stripe.com/"));
    let sent = stripe.last_session();
    assert_eq!(sent["mode"], "payment");
    assert_eq!(sent["client_reference_id"], fan.to_string());
    assert_eq!(sent["metadata[user_id]"], fan.to_string());
    assert_eq!(sent["line_items[0][price_data][unit_amount]"], "2500");
    assert_eq!(sent["line_items[0][price_data][currency]"], "usd");
    assert_eq!(sent["line_items[0][quantity]"], "1");
    assert!(sent.contains_key("idempotency_key"));
    let session_id = session["session_id"].as_str().unwrap();
    assert_eq!(sent["id"], session_id);

    let body = completed_event("evt_1", session_id, fan, 2_500, "pi_1");
    let now = app.clock_now();
    let res = deliver(&app, &body, Some(stripe_header(&body, now))).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["outcome"], "credited");
    assert_eq!(app.balance(&token).await, 2_500);

    // The same delivery again (Stripe retries) is recorded once.
    let res = deliver(&app, &body, Some(stripe_header(&body, now))).await;
    assert_eq!(res.json::<Value>().await.unwrap()["outcome"], "duplicate");
    // Another event about the same session (e.g. async_payment_succeeded) does not credit again.
    let other = completed_event("evt_2", session_id, fan, 2_500, "pi_1");
    let res = deliver(&app, &other, Some(stripe_header(&other, now))).await;
    assert_eq!(res.json::<Value>().await.unwrap()["outcome"], "ignored");
    assert_eq!(app.balance(&token).await, 2_500);

    let wallet = app.get("/v1/wallet", &token).await;
    assert_eq!(wallet["entries"].as_array().unwrap().len(), 1);
    assert_eq!(wallet["entries"][0]["kind"], "top_up");
    app.assert_ledger_ok().await;
}

#[tokio::test]
async fn forged_stale_and_unsigned_webhooks_are_refused() {
    let stripe = StripeStandIn::start();
    let app = TestApp::spawn_with(Some(&stripe.base_url)).await;
    let (fan, token) = app.user(Role::Fan).await;
    let session = checkout(&app, &token, 1_000).await;
    let body = completed_event("evt_f", session["session_id"].as_str().unwrap(), fan, 1_000, "pi_f");
    let now = app.clock_now();

    let forged = sign(&body, "whsec_attacker", now);
    assert_eq!(code_of(deliver(&app, &body, Some(forged)).await).await, (400, "invalid_signature".into()));
    let stale = sign(&body, WEBHOOK_SECRET, now - 301);
    assert_eq!(code_of(deliver(&app, &body, Some(stale)).await).await, (400, "invalid_signature".into()));
    assert_eq!(code_of(deliver(&app, &body, None).await).await, (400, "invalid_signature".into()));
    // A valid signature over another body.
    let tampered = completed_event("evt_f", session["session_id"].as_str().unwrap(), fan, 99_999, "pi_f");
    let sig = sign(&body, WEBHOOK_SECRET, now);
    assert_eq!(code_of(deliver(&app, &tampered, Some(sig)).await).await, (400, "invalid_signature".into()));
    assert_eq!(app.balance(&token).await, 0);

    // Within the tolerance is fine; the refused attempts did not consume the event id.
    let sig = sign(&body, WEBHOOK_SECRET, now - 299);
    assert_eq!(deliver(&app, &body, Some(sig)).await.status(), 200);
    assert_eq!(app.balance(&token).await, 1_000);
}

#[tokio::test]
async fn signature_headers_with_thousands_of_entries_and_oversized_bodies_are_refused() {
    let stripe = StripeStandIn::start();
    let app = TestApp::spawn_with(Some(&stripe.base_url)).await;
    let (fan, token) = app.user(Role::Fan).await;
    let session = checkout(&app, &token, 1_000).await;
    let body = completed_event("evt_big", session["session_id"].as_str().unwrap(), fan, 1_000, "pi_big");
    let now = app.clock_now();

    // The reported attack: ~400 KB of body and 20,000 empty v1 entries.
    let padded = serde_json::to_vec(&json!({"id": "evt_pad", "pad": "x".repeat(400 * 1024)})).unwrap();
    let forged = format!("t={now}{}", ",v1=".repeat(20_000));
    assert_eq!(code_of(deliver(&app, &padded, Some(forged.clone())).await).await, (400, "invalid_signature".into()));
    assert_eq!(code_of(deliver(&app, &body, Some(forged)).await).await, (400, "invalid_signature".into()));
    // More than 8 v1 entries is refused even when one of them is genuine.
    let many = format!("{}{}", sign(&body, WEBHOOK_SECRET, now), ",v1=00".repeat(8));
    assert_eq!(code_of(deliver(&app, &body, Some(many)).await).await, (400, "invalid_signature".into()));
    // A genuinely signed body over 256 KB is refused as too large, with the JSON error body.
    let large = serde_json::to_vec(&json!({"id": "evt_large", "type": "ping", "pad": "x".repeat(300 * 1024)})).unwrap();
    let res = deliver(&app, &large, Some(sign(&large, WEBHOOK_SECRET, now))).await;
    assert_eq!(code_of(res).await, (413, "payload_too_large".into()));
    assert_eq!(app.balance(&token).await, 0);

    // The genuine delivery still goes through.
    assert_eq!(deliver(&app, &body, Some(stripe_header(&body, now))).await.status(), 200);
    assert_eq!(app.balance(&token).await, 1_000);
}

#[tokio::test]
async fn refunds_and_disputes_debit_and_a_negative_wallet_is_frozen() {
    let stripe = StripeStandIn::start();
    let app = TestApp::spawn_with(Some(&stripe.base_url)).await;
    let (fan, token) = app.user(Role::Fan).await;
    let (creator, _) = app.user(Role::Creator).await;
    let room = app.room("broadcast", creator, None, app.clock.now_ts()).await;
    let session = checkout(&app, &token, 1_000).await;
    let now = app.clock_now();
    let body = completed_event("evt_c", session["session_id"].as_str().unwrap(), fan, 1_000, "pi_r");
    assert_eq!(deliver(&app, &body, Some(sign(&body, WEBHOOK_SECRET, now))).await.status(), 200);

    // Spend 700 of it, then a partial refund of 300 (cumulative amount_refunded = 300).
    let res = app.post("/v1/tips", &token, json!({"room_id": room, "amount": 700})).await;
    assert_eq!(res.status(), 201);
    let refund = |id: &str, total: i64| {
        serde_json::to_vec(&json!({"id": id, "type": "charge.refunded", "data": {"object": {
            "id": "ch_r", "object": "charge", "amount": 1_000, "amount_refunded": total, "payment_intent": "pi_r", "refunded": total == 1_000
        }}}))
        .unwrap()
    };
    let r1 = refund("evt_r1", 300);
    assert_eq!(deliver(&app, &r1, Some(sign(&r1, WEBHOOK_SECRET, now))).await.status(), 200);
    assert_eq!(app.balance(&token).await, 0);
    let wallet = app.get("/v1/wallet", &token).await;
    assert_eq!(wallet["frozen"], false);

    // A dispute over the rest takes the wallet negative: frozen, cannot spend.
    let dispute = serde_json::to_vec(&json!({"id": "evt_d1", "type": "charge.dispute.created", "data": {"object": {
        "id": "dp_1", "object": "dispute", "amount": 1_000, "charge": "ch_r", "payment_intent": "pi_r", "status": "needs_response"
    }}}))
    .unwrap();
    assert_eq!(deliver(&app, &dispute, Some(sign(&dispute, WEBHOOK_SECRET, now))).await.status(), 200);
    let wallet = app.get("/v1/wallet", &token).await;
    // Capped at what was not yet reversed: 1000 - 300.
    assert_eq!(wallet["balance"], -700);
    assert_eq!(wallet["frozen"], true);
    app.dev_top_up(&token, 800).await;
    let res = app.post("/v1/tips", &token, json!({"room_id": room, "amount": 50})).await;
    assert_eq!(code_of(res).await, (403, "wallet_frozen".into()));
    app.assert_ledger_ok().await;

    // An operator can unfreeze once the balance is not negative.
    let (_, operator) = app.user(Role::Operator).await;
    let res = app.post(&format!("/v1/admin/wallets/{fan}/unfreeze"), &operator, json!({})).await;
    assert_eq!(res.status(), 200);
    let res = app.post("/v1/tips", &token, json!({"room_id": room, "amount": 50})).await;
    assert_eq!(res.status(), 201);
    app.assert_ledger_ok().await;
}

#[tokio::test]
async fn top_up_limits_and_configuration_are_enforced() {
    let app = TestApp::spawn().await;
    let (_, token) = app.user(Role::Fan).await;
    // No Stripe key here.
    let res = app.post("/v1/wallet/top-ups", &token, json!({"amount": 1_000})).await;
    assert_eq!(code_of(res).await, (503, "not_configured".into()));
    let res = app.post("/v1/dev/wallet/top-ups", &token, json!({"amount": 99})).await;
    assert_eq!(code_of(res).await, (400, "invalid_input".into()));
    let res = app.post("/v1/dev/wallet/top-ups", &token, json!({"amount": 50_001})).await;
    assert_eq!(code_of(res).await, (400, "invalid_input".into()));
    app.dev_top_up(&token, 50_000).await;
    app.dev_top_up(&token, 50_000).await;
    let res = app.post("/v1/dev/wallet/top-ups", &token, json!({"amount": 100})).await;
    assert_eq!(code_of(res).await, (429, "limit_reached".into()));
    let res = app.http.get(app.url("/v1/wallet")).send().await.unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn the_dev_route_exists_only_when_enabled() {
    let t = tandem_shared::testing::TestCore::new().await;
    let mut s = crate::helpers::settings(&t.core, None);
    s.dev_topups = false;
    let billing =
        tandem_billing::Billing::new(&t.core, s, std::sync::Arc::new(tandem_billing::clock::SystemClock)).unwrap();
    let server = tandem_shared::testing::TestCore::spawn(&t.core, vec![tandem_billing::service_with(billing, false)]);
    let (token, _) = t.core.tokens.issue(UserId::new(), Role::Fan).unwrap();
    let res = reqwest::Client::new()
        .post(server.url("/v1/dev/wallet/top-ups"))
        .bearer_auth(token)
        .json(&json!({"amount": 1_000}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

/// One user's parallel top-ups while Stripe is slow: no pooled connection or lock is held during
/// the Stripe call, so the calls run side by side and other requests still get a connection; the
/// daily limit still holds under the concurrency, and each call carries its own idempotency key.
#[tokio::test]
async fn parallel_top_ups_of_one_user_do_not_hold_the_pool_while_stripe_answers() {
    let stripe = StripeStandIn::start();
    let app = TestApp::spawn_with(Some(&stripe.base_url)).await;
    let (_, fan) = app.user(Role::Fan).await;
    let (_, other) = app.user(Role::Fan).await;
    stripe.slow_sessions(std::time::Duration::from_millis(1500));

    // 12 x 10,000 against a daily limit of 100,000 (the pool has 10 connections).
    let started = std::time::Instant::now();
    let top_ups = futures_util::future::join_all(
        (0..12).map(|_| app.post("/v1/wallet/top-ups", &fan, json!({"amount": 10_000}))),
    );
    let unrelated = async {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        let t = std::time::Instant::now();
        let res = app.http.get(app.url("/v1/wallet")).bearer_auth(&other).send().await.unwrap();
        (res.status().as_u16(), t.elapsed())
    };
    let (results, (status, waited)) = tokio::join!(top_ups, unrelated);
    assert_eq!(status, 200);
    assert!(waited < std::time::Duration::from_millis(700), "another user's request waited {waited:?} for the pool");
    let statuses: Vec<u16> = results.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 10, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 2, "{statuses:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(6),
        "Stripe calls ran side by side: {:?}",
        started.elapsed()
    );

    let sessions = stripe.recorded.sessions.lock().unwrap().clone();
    assert_eq!(sessions.len(), 10);
    let keys: std::collections::HashSet<_> = sessions.iter().map(|s| s["idempotency_key"].clone()).collect();
    assert_eq!(keys.len(), 10, "one idempotency key per top-up");
    let (recorded, reserved): (i64, i64) = sqlx::query_as(
        "select (select count(*) from stripe_checkout_sessions), (select count(*) from topup_reservations)",
    )
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!((recorded, reserved), (10, 0), "every session recorded, no reservation left");
}
