//! The payment-gate contract, run against billing's in-process gate and against the remote gate
//! that other processes use (internal HTTP, authenticated as the broker or signaling).

use crate::helpers::{ClockExt, TestApp};
use serde_json::json;
use std::sync::Arc;
use tandem_shared::contracts::payment::RemotePaymentGate;
use tandem_shared::contracts::InternalClient;
use tandem_shared::hooks::{PaymentGate, PaymentRefusal};
use tandem_shared::ids::{Role, RoomId};
use tandem_shared::service_auth::ServiceName;

fn in_process(app: &TestApp) -> Arc<dyn PaymentGate> {
    app.t.core.hooks.payment().expect("billing installs its gate")
}

fn remote(app: &TestApp, caller: ServiceName) -> Arc<dyn PaymentGate> {
    let client =
        InternalClient::new(&app.url(""), app.t.core.service_key.clone(), caller, ServiceName::Billing).unwrap();
    Arc::new(RemotePaymentGate::new(client))
}

/// The broker's and signaling's view of billing, from one implementation each.
struct Gates {
    broker: Arc<dyn PaymentGate>,
    signaling: Arc<dyn PaymentGate>,
}

async fn contract(app: &TestApp, gates: Gates) {
    let (fan, fan_token) = app.user(Role::Fan).await;
    let (creator, creator_token) = app.user(Role::Creator).await;
    let (free_creator, _) = app.user(Role::Creator).await;
    let res = app
        .http
        .put(app.url("/v1/creator/pricing"))
        .bearer_auth(&creator_token)
        .json(&json!({"price_per_minute": 100}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let g = &gates.broker;

    // A creator charging nothing needs no quote; a broke fan is refused with the numbers.
    assert!(g.quote_private(fan, free_creator).await.unwrap().is_none());
    match g.quote_private(fan, creator).await {
        Err(PaymentRefusal::InsufficientFunds { needed, available }) => assert_eq!((needed, available), (100, 0)),
        other => panic!("expected insufficient funds, got {other:?}"),
    }
    app.dev_top_up(&fan_token, 250).await;
    let quote = g.quote_private(fan, creator).await.unwrap().expect("a paid creator is quoted");
    assert_eq!((quote.price_per_minute, quote.currency), (100, "usd"));

    // The creator raises the price after the fan was quoted: the quoted price is charged.
    let res = app
        .http
        .put(app.url("/v1/creator/pricing"))
        .bearer_auth(&creator_token)
        .json(&json!({"price_per_minute": 10_000}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Start charges the first minute once, however often it is called.
    let room = app.room("private", creator, Some(fan), app.clock.now_ts()).await;
    g.start_private(room, fan, creator, app.started(room), quote.price_per_minute).await.unwrap();
    g.start_private(room, fan, creator, app.started(room), quote.price_per_minute).await.unwrap();
    assert_eq!(app.balance(&fan_token).await, 150, "charged the quoted 100, not 10,000");

    // A tip retried with the same key applies once; an unknown room and a broke wallet are refused.
    let s = &gates.signaling;
    let broadcast = app.room("broadcast", creator, None, app.clock.now_ts()).await;
    s.tip(broadcast, fan, 40, Some("bravo".into()), Some("ws:k1".into())).await.unwrap();
    s.tip(broadcast, fan, 40, Some("bravo".into()), Some("ws:k1".into())).await.unwrap();
    assert_eq!(app.balance(&fan_token).await, 110);
    match s.tip(broadcast, fan, 41, None, Some("ws:k1".into())).await {
        Err(PaymentRefusal::Refused { code, .. }) => assert_eq!(code, "idempotency_key_reused"),
        other => panic!("expected idempotency_key_reused, got {other:?}"),
    }
    match s.tip(RoomId::new(), fan, 10, None, Some("ws:k2".into())).await {
        Err(PaymentRefusal::Refused { code, .. }) => assert_eq!(code, "room_not_found"),
        other => panic!("expected room_not_found, got {other:?}"),
    }
    assert!(matches!(
        s.tip(broadcast, fan, 5_000, None, Some("ws:k3".into())).await,
        Err(PaymentRefusal::InsufficientFunds { .. }) | Err(PaymentRefusal::Refused { .. })
    ));

    // The end settles and closes the session (idempotent).
    assert!(app.rooms.stand_in.end(room));
    g.end_private(room).await.unwrap();
    g.end_private(room).await.unwrap();
    let closed: bool = sqlx::query_scalar("select ended_at is not null from private_sessions where room_id = $1")
        .bind(room)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert!(closed);
    app.assert_ledger_ok().await;
}

#[tokio::test]
async fn the_payment_contract_holds_in_process() {
    let app = TestApp::spawn().await;
    let g = in_process(&app);
    contract(&app, Gates { broker: g.clone(), signaling: g }).await;
}

#[tokio::test]
async fn the_payment_contract_holds_over_internal_http() {
    let app = TestApp::spawn().await;
    let gates = Gates { broker: remote(&app, ServiceName::Broker), signaling: remote(&app, ServiceName::Signaling) };
    contract(&app, gates).await;
}

#[tokio::test]
async fn a_remote_gate_that_cannot_reach_billing_is_unavailable_not_free() {
    let app = TestApp::spawn().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = InternalClient::new(
        &format!("http://127.0.0.1:{port}"),
        app.t.core.service_key.clone(),
        ServiceName::Signaling,
        ServiceName::Billing,
    )
    .unwrap();
    let gate = RemotePaymentGate::new(client);
    let (fan, _) = app.user(Role::Fan).await;
    let err = gate.tip(RoomId::new(), fan, 10, None, None).await.unwrap_err();
    assert!(matches!(err, PaymentRefusal::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn only_the_broker_may_start_sessions_and_only_signaling_may_tip() {
    let app = TestApp::spawn().await;
    let (fan, _) = app.user(Role::Fan).await;
    let (creator, _) = app.user(Role::Creator).await;
    let as_signaling = remote(&app, ServiceName::Signaling);
    let refused = as_signaling.start_private(RoomId::new(), fan, creator, chrono::Utc::now(), 100).await.unwrap_err();
    assert!(matches!(refused, PaymentRefusal::Refused { code: "forbidden", .. }), "{refused:?}");
    let as_broker = remote(&app, ServiceName::Broker);
    let refused = as_broker.tip(RoomId::new(), fan, 10, None, None).await.unwrap_err();
    assert!(matches!(refused, PaymentRefusal::Refused { code: "forbidden", .. }), "{refused:?}");
}
