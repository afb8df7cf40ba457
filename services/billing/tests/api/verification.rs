//! Creator verification end to end: a real broker and billing in one process, with
//! `TANDEM_CREATOR_VERIFICATION=required` and the Stripe stand-in. An unverified creator is
//! refused going live, pricing and accepting a private request (`403 verification_required`);
//! Stripe Identity's signed `verified` webhook unlocks them; a replayed (or later, older)
//! webhook changes nothing; an operator can approve instead. Every decision is audited.

use crate::helpers::WEBHOOK_SECRET;
use crate::stripe_standin::StripeStandIn;
use serde_json::{json, Value};
use std::sync::Arc;
use tandem_billing::config::VerificationMode;
use tandem_billing::signature::sign;
use tandem_shared::ids::{Role, UserId};
use tandem_shared::media_token::MediaKey;
use tandem_shared::testing::{TestCore, TestServer, TestUser};

struct Deployment {
    t: TestCore,
    server: TestServer,
    http: reqwest::Client,
}

impl Deployment {
    async fn start() -> (Self, StripeStandIn) {
        let stripe = StripeStandIn::start();
        let t = TestCore::new().await;
        t.core.hooks.set_users(Arc::new(tandem_auth::directory::Directory::new(t.core.db.clone())));
        let mut s = crate::helpers::settings(&t.core, Some(&stripe.base_url));
        s.verification = VerificationMode::Required;
        let billing =
            tandem_billing::Billing::new(&t.core, s, Arc::new(tandem_billing::clock::SystemClock)).expect("billing");
        let billing_svc = tandem_billing::service_with(billing, false);
        let broker =
            tandem_broker::build(&t.core, tandem_broker::BrokerSettings::relay_defaults(), MediaKey::generate(), false)
                .expect("broker");
        let server = TestCore::spawn(&t.core, vec![Arc::new(broker), billing_svc]);
        (Self { t, server, http: reqwest::Client::new() }, stripe)
    }

    async fn send(&self, method: reqwest::Method, user: &TestUser, path: &str, body: Value) -> reqwest::Response {
        self.http
            .request(method, self.server.url(path))
            .bearer_auth(&user.token)
            .json(&body)
            .send()
            .await
            .expect("sent")
    }

    async fn code(&self, method: reqwest::Method, user: &TestUser, path: &str, body: Value) -> (u16, String) {
        let res = self.send(method, user, path, body).await;
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        (status, body["code"].as_str().unwrap_or_default().to_string())
    }

    async fn webhook(&self, event: &Value) -> Value {
        let body = serde_json::to_vec(event).expect("json");
        let sig = sign(&body, WEBHOOK_SECRET, chrono::Utc::now().timestamp());
        let res = self
            .http
            .post(self.server.url("/v1/webhooks/stripe"))
            .header("content-type", "application/json")
            .header("Stripe-Signature", sig)
            .body(body)
            .send()
            .await
            .expect("webhook sent");
        assert_eq!(res.status(), 200);
        res.json().await.expect("json")
    }

    async fn audit(&self, operator: &TestUser) -> Vec<Value> {
        let res = self.send(reqwest::Method::GET, operator, "/v1/admin/audit", json!(null)).await;
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.expect("json")["entries"].as_array().expect("entries").clone()
    }
}

fn identity_event(event_id: &str, kind: &str, session: &str, user: UserId) -> Value {
    json!({
        "id": event_id,
        "object": "event",
        "type": kind,
        "created": chrono::Utc::now().timestamp(),
        "livemode": false,
        "data": {"object": {
            "id": session,
            "object": "identity.verification_session",
            "status": if kind.ends_with("verified") { "verified" } else { "requires_input" },
            "last_error": if kind.ends_with("verified") { Value::Null } else { json!({"code": "document_unverified_other", "reason": "blurry"}) },
            "metadata": {"user_id": user.to_string()},
        }}
    })
}

#[tokio::test]
async fn an_unverified_creator_is_refused_until_stripe_identity_verifies_them_and_a_replay_changes_nothing() {
    let (d, stripe) = Deployment::start().await;
    let creator = d.t.user(Role::Creator).await;
    let fan = d.t.user(Role::Fan).await;
    let operator = d.t.user(Role::Operator).await;
    use reqwest::Method as M;

    // Unverified: no going live, no price, no accepting.
    assert_eq!(
        d.code(M::POST, &creator, "/v1/rooms", json!({"title": "hi"})).await,
        (403, "verification_required".into())
    );
    let pricing = json!({"price_per_minute": 100});
    assert_eq!(
        d.code(M::PUT, &creator, "/v1/creator/pricing", pricing.clone()).await,
        (403, "verification_required".into())
    );
    assert_eq!(d.send(M::PUT, &creator, "/v1/presence", json!({"status": "online"})).await.status(), 200);
    let res = d.send(M::POST, &fan, "/v1/private-requests", json!({"creator_id": creator.id, "media": "p2p"})).await;
    assert_eq!(res.status(), 201);
    let rid = res.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    let accept = format!("/v1/private-requests/{rid}/accept");
    assert_eq!(d.code(M::POST, &creator, &accept, json!({})).await, (403, "verification_required".into()));

    // The creator sees what is missing, and starts Stripe Identity.
    let status: Value = d.send(M::GET, &creator, "/v1/verification", json!(null)).await.json().await.expect("json");
    assert_eq!(status["status"], "unverified");
    assert_eq!(status["verified"], false);
    assert!(!status["missing"].as_array().expect("missing").is_empty());
    let res = d.send(M::POST, &creator, "/v1/verification/stripe", json!(null)).await;
    assert_eq!(res.status(), 201);
    let session: Value = res.json().await.expect("json");
    let session_id = session["session_id"].as_str().expect("session id").to_string();
    assert!(session["url"].as_str().expect("url").starts_with("https://verify.stripe.com/"));
    let sent = stripe.identity_sessions();
    assert_eq!(sent.last().expect("a session")["metadata[user_id]"], creator.id.to_string());
    let pending: Value = d.send(M::GET, &creator, "/v1/verification", json!(null)).await.json().await.expect("json");
    assert_eq!(pending["status"], "pending");

    // Stripe needs more input first: still refused, and the creator is told why.
    let needs = identity_event("evt_needs", "identity.verification_session.requires_input", &session_id, creator.id);
    assert_eq!(d.webhook(&needs).await["outcome"], "verification");
    let again: Value = d.send(M::GET, &creator, "/v1/verification", json!(null)).await.json().await.expect("json");
    assert_eq!(again["status"], "requires_input");
    assert_eq!(again["last_error"], "document_unverified_other");
    assert_eq!(d.code(M::POST, &creator, "/v1/rooms", json!({})).await.1, "verification_required");

    // The verified webhook unlocks everything.
    let verified = identity_event("evt_verified", "identity.verification_session.verified", &session_id, creator.id);
    assert_eq!(d.webhook(&verified).await["outcome"], "verification");
    assert_eq!(d.send(M::POST, &creator, &accept, json!({})).await.status(), 200);
    assert_eq!(d.send(M::PUT, &creator, "/v1/creator/pricing", pricing).await.status(), 200);

    // A replay is a duplicate; a late `requires_input` of another delivery does not undo it.
    assert_eq!(d.webhook(&verified).await["outcome"], "duplicate");
    let late = identity_event("evt_late", "identity.verification_session.requires_input", &session_id, creator.id);
    assert_eq!(d.webhook(&late).await["outcome"], "ignored");
    let done: Value = d.send(M::GET, &creator, "/v1/verification", json!(null)).await.json().await.expect("json");
    assert_eq!((done["status"].as_str(), done["verified"].as_bool()), (Some("verified"), Some(true)));

    let audit = d.audit(&operator).await;
    let approvals: Vec<&Value> = audit.iter().filter(|e| e["action"] == "verification_approved").collect();
    assert_eq!(approvals.len(), 1, "{audit:?}");
    assert_eq!(approvals[0]["actor_kind"], "stripe");
    assert_eq!(approvals[0]["target_user"], json!(creator.id));
    assert!(audit.iter().any(|e| e["action"] == "verification_requires_input"));
}

#[tokio::test]
async fn an_operator_approves_or_rejects_and_each_decision_is_audited() {
    let (d, _stripe) = Deployment::start().await;
    let creator = d.t.user(Role::Creator).await;
    let operator = d.t.user(Role::Operator).await;
    use reqwest::Method as M;
    let path = format!("/v1/admin/verifications/{}", creator.id);
    // Only operators decide, with a reason.
    assert_eq!(d.code(M::POST, &creator, &path, json!({"decision": "approve", "reason": "me"})).await.0, 403);
    assert_eq!(d.code(M::POST, &operator, &path, json!({"decision": "approve", "reason": " "})).await.0, 400);
    let res = d
        .send(M::POST, &operator, &path, json!({"decision": "approve", "reason": "checked the passport in person"}))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.expect("json")["verified"], true);
    assert_eq!(d.send(M::POST, &creator, "/v1/rooms", json!({"title": "verified now"})).await.status(), 201);
    let res = d.send(M::POST, &operator, &path, json!({"decision": "reject", "reason": "document was forged"})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        d.code(M::PUT, &creator, "/v1/creator/pricing", json!({"price_per_minute": 5})).await.1,
        "verification_required"
    );
    let audit = d.audit(&operator).await;
    for action in ["verification_approved", "verification_rejected"] {
        let row = audit.iter().find(|e| e["action"] == action).unwrap_or_else(|| panic!("{action}: {audit:?}"));
        assert_eq!(row["actor_id"], json!(operator.id));
        assert_eq!(row["service"], "billing");
    }
}
