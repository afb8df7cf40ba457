use crate::helpers::{code_of, livepeer_settings, TestApp, WEBHOOK_SECRET};
use crate::standin::StandIn;
use serde_json::{json, Value};
use std::time::Duration;
use tandem_broker::provider::livepeer::sign_webhook;
use tandem_shared::ids::{Role, SlotId};

async fn deliver(app: &TestApp, body: &str, signature: Option<String>) -> reqwest::Response {
    let mut req = app
        .http
        .post(app.url("/v1/webhooks/livepeer"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(sig) = signature {
        req = req.header("Livepeer-Signature", sig);
    }
    req.send().await.unwrap()
}

fn delivery(event: &str, stream_id: &str, t: i64) -> String {
    json!({"id": uuid::Uuid::new_v4().to_string(), "webhookId": "wh1", "createdAt": t, "timestamp": t,
           "event": event, "stream": {"id": stream_id, "name": "x"}})
    .to_string()
}

async fn slot_state(app: &TestApp, stream_id: &str) -> String {
    sqlx::query_scalar("select state from room_slots where provider_stream_id = $1")
        .bind(stream_id)
        .fetch_one(&app.t.core.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn forged_stale_and_replayed_webhooks_are_refused() {
    let lp = StandIn::start();
    let mut s = livepeer_settings(&lp.base);
    s.heartbeat_grace = Duration::from_secs(1);
    let app = TestApp::spawn_with(s).await;
    let creator = app.user(Role::Creator).await;
    let room = app.post(&creator, "/v1/rooms", json!({"media": "livepeer"})).await.json::<Value>().await.unwrap();
    let room_id = room["id"].as_str().unwrap().to_string();
    let host_stream = lp.state.created_ids.lock().unwrap()[0].clone();
    let now = chrono::Utc::now().timestamp_millis();

    let body = delivery("stream.started", &host_stream, now);
    assert_eq!(code_of(deliver(&app, &body, None).await).await, (401, "invalid_signature".into()));
    let forged = sign_webhook("not-the-secret", body.as_bytes(), now);
    assert_eq!(code_of(deliver(&app, &body, Some(forged)).await).await.0, 401);
    let old = now - 10 * 60 * 1000;
    let stale = delivery("stream.started", &host_stream, old);
    assert_eq!(
        code_of(deliver(&app, &stale, Some(sign_webhook(WEBHOOK_SECRET, stale.as_bytes(), old))).await).await.0,
        401
    );
    assert_eq!(slot_state(&app, &host_stream).await, "idle", "nothing recorded from refused deliveries");

    let good = sign_webhook(WEBHOOK_SECRET, body.as_bytes(), now);
    assert_eq!(deliver(&app, &body, Some(good.clone())).await.status(), 204);
    assert_eq!(slot_state(&app, &host_stream).await, "publishing");
    assert_eq!(code_of(deliver(&app, &body, Some(good)).await).await, (409, "duplicate_delivery".into()));

    // The host stream goes idle and stays idle past the grace period: the room ends.
    let t = chrono::Utc::now().timestamp_millis();
    let idle = delivery("stream.idle", &host_stream, t);
    assert_eq!(deliver(&app, &idle, Some(sign_webhook(WEBHOOK_SECRET, idle.as_bytes(), t))).await.status(), 204);
    assert_eq!(slot_state(&app, &host_stream).await, "idle");
    // Keep heartbeating so only the idle stream can end it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some((status, reason)) = app.room_row(&room_id).await {
            if status == "ended" {
                assert_eq!(reason.as_deref(), Some("stream_idle"));
                break;
            }
        }
        app.post(&creator, &format!("/v1/rooms/{room_id}/heartbeat"), json!({})).await;
        assert!(tokio::time::Instant::now() < deadline, "idle host stream did not end the room");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Unknown events and unknown streams are acknowledged.
    let t = chrono::Utc::now().timestamp_millis();
    let other = delivery("recording.ready", "zzz", t);
    assert_eq!(deliver(&app, &other, Some(sign_webhook(WEBHOOK_SECRET, other.as_bytes(), t))).await.status(), 204);
}

#[tokio::test]
async fn signature_headers_with_thousands_of_entries_and_oversized_bodies_are_refused() {
    let lp = StandIn::start();
    let app = TestApp::spawn_with(livepeer_settings(&lp.base)).await;
    let creator = app.user(Role::Creator).await;
    app.post(&creator, "/v1/rooms", json!({"media": "livepeer"})).await;
    let host_stream = lp.state.created_ids.lock().unwrap()[0].clone();
    let now = chrono::Utc::now().timestamp_millis();
    let body = delivery("stream.started", &host_stream, now);

    let forged = format!("t={now}{}", ",v1=".repeat(20_000));
    assert_eq!(code_of(deliver(&app, &body, Some(forged)).await).await, (401, "invalid_signature".into()));
    let many = format!("{}{}", sign_webhook(WEBHOOK_SECRET, body.as_bytes(), now), ",v1=00".repeat(8));
    assert_eq!(code_of(deliver(&app, &body, Some(many)).await).await, (401, "invalid_signature".into()));
    // A genuinely signed body over 64 KB is refused as too large, with the JSON error body.
    let large = json!({"id": "big", "event": "stream.started", "timestamp": now, "stream": {"id": host_stream},
                       "pad": "x".repeat(100 * 1024)})
    .to_string();
    let res = deliver(&app, &large, Some(sign_webhook(WEBHOOK_SECRET, large.as_bytes(), now))).await;
    assert_eq!(code_of(res).await, (413, "payload_too_large".into()));
    assert_eq!(slot_state(&app, &host_stream).await, "idle", "nothing recorded from refused deliveries");

    let good = sign_webhook(WEBHOOK_SECRET, body.as_bytes(), now);
    assert_eq!(deliver(&app, &body, Some(good)).await.status(), 204);
    assert_eq!(slot_state(&app, &host_stream).await, "publishing");
}

#[tokio::test]
async fn relay_slot_state_reports_must_be_signed() {
    let app = TestApp::spawn().await;
    let creator = app.user(Role::Creator).await;
    let room = app.open_room(&creator).await;
    let slot: SlotId = room["slots"][0]["slot_id"].as_str().unwrap().parse().unwrap();
    let ts = chrono::Utc::now().timestamp();
    let path = app.url(&format!("/internal/v1/slots/{slot}/state"));
    let send = |sig: String, publishing: bool, ts: i64| {
        app.http.post(&path).header("X-Tandem-Signature", sig).json(&json!({"publishing": publishing, "ts": ts})).send()
    };
    let forged = tandem_shared::media_token::MediaKey::generate().slot_state_signature(slot, true, ts);
    assert_eq!(code_of(send(forged, true, ts).await.unwrap()).await, (401, "invalid_signature".into()));
    let flipped = app.key.slot_state_signature(slot, false, ts);
    assert_eq!(send(flipped, true, ts).await.unwrap().status(), 401);
    let old = ts - 3600;
    assert_eq!(send(app.key.slot_state_signature(slot, true, old), true, old).await.unwrap().status(), 401);
    assert_eq!(send(app.key.slot_state_signature(slot, true, ts), true, ts).await.unwrap().status(), 204);
    let state: String = sqlx::query_scalar("select state from room_slots where slot_id = $1")
        .bind(slot)
        .fetch_one(&app.t.core.db)
        .await
        .unwrap();
    assert_eq!(state, "publishing");
    // The in-process function does the same for an embedded relay.
    assert!(tandem_broker::set_slot_state(&app.t.core, slot, false).await.unwrap());
    let unknown = SlotId::new();
    let res = app
        .http
        .post(app.url(&format!("/internal/v1/slots/{unknown}/state")))
        .header("X-Tandem-Signature", app.key.slot_state_signature(unknown, true, ts))
        .json(&json!({"publishing": true, "ts": ts}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn streams_livepeer_reports_inactive_are_marked_idle() {
    let lp = StandIn::start();
    let app = TestApp::spawn_with(livepeer_settings(&lp.base)).await;
    let creator = app.user(Role::Creator).await;
    app.post(&creator, "/v1/rooms", json!({"media": "livepeer"})).await;
    let (host, guest) = {
        let ids = lp.state.created_ids.lock().unwrap();
        (ids[0].clone(), ids[1].clone())
    };
    for id in [&host, &guest] {
        let t = chrono::Utc::now().timestamp_millis();
        let body = delivery("stream.started", id, t);
        assert_eq!(deliver(&app, &body, Some(sign_webhook(WEBHOOK_SECRET, body.as_bytes(), t))).await.status(), 204);
    }
    // Livepeer still sees the guest, but dropped the host without a stream.idle.
    lp.state.active.lock().unwrap().push(guest.clone());
    let fixed = tandem_broker::reaper::reconcile_streams(&app.broker).await.unwrap();
    assert_eq!(fixed, 1);
    assert_eq!(slot_state(&app, &host).await, "idle");
    assert_eq!(slot_state(&app, &guest).await, "publishing");
}
