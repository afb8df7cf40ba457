use crate::helpers::{code_of, ClockExt, TestApp};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tandem_shared::events::{room_channel, user_channel};
use tandem_shared::ids::Role;

/// Subscribe to a channel; returns a function-like stream of JSON payloads.
pub async fn subscribe(channel: String) -> impl futures_util::Stream<Item = Value> + Unpin {
    let client = redis::Client::open(tandem_shared::testing::redis_url()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.subscribe(channel).await.unwrap();
    Box::pin(pubsub.into_on_message().map(|m| serde_json::from_str(&m.get_payload::<String>().unwrap()).unwrap()))
}

pub async fn next_event(stream: &mut (impl futures_util::Stream<Item = Value> + Unpin)) -> Value {
    tokio::time::timeout(std::time::Duration::from_secs(5), stream.next())
        .await
        .expect("an event within 5 s")
        .expect("stream open")
}

#[tokio::test]
async fn a_hundred_concurrent_tips_from_a_wallet_covering_ten_succeed_exactly_ten_times() {
    let app = TestApp::spawn().await;
    let (_, fan) = app.user(Role::Fan).await;
    let (creator, creator_token) = app.user(Role::Creator).await;
    let room = app.room("broadcast", creator, None, app.clock.now_ts()).await;
    app.dev_top_up(&fan, 1_000).await;

    let tips = (0..100).map(|_| {
        let req = app.http.post(app.url("/v1/tips")).bearer_auth(&fan).json(&json!({"room_id": room, "amount": 100}));
        async move { req.send().await.expect("tip sent").status().as_u16() }
    });
    let statuses = futures_util::future::join_all(tips).await;
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 10, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 402).count(), 90, "{statuses:?}");
    assert_eq!(app.balance(&fan).await, 0);

    let earnings = app.get("/v1/creator/earnings", &creator_token).await;
    assert_eq!(earnings["balance"], 800);
    assert_eq!(earnings["by_room"][0]["gross"], 1_000);
    assert_eq!(earnings["by_room"][0]["earned"], 800);
    assert_eq!(earnings["by_room"][0]["tips"], 10);
    app.assert_ledger_ok().await;
}

#[tokio::test]
async fn tips_are_announced_to_the_room_and_the_note_only_to_the_creator() {
    let app = TestApp::spawn().await;
    let (fan_id, fan) = app.user(Role::Fan).await;
    let (creator, _) = app.user(Role::Creator).await;
    let room = app.room("private", creator, Some(fan_id), app.clock.now_ts()).await;
    app.dev_top_up(&fan, 500).await;
    let redis = &app.t.core.redis;
    let mut room_events = subscribe(room_channel(redis, room)).await;
    let mut creator_events = subscribe(user_channel(redis, creator)).await;

    let res = app
        .http
        .post(app.url("/v1/tips"))
        .bearer_auth(&fan)
        .header("Idempotency-Key", "tip-1")
        .json(&json!({"room_id": room, "amount": 150, "note": "great show"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let public = next_event(&mut room_events).await;
    assert_eq!(public["type"], "notice");
    assert_eq!(public["event"], "tip");
    assert_eq!(public["data"]["amount"], 150);
    assert!(public["data"].get("note").is_none());
    let private = next_event(&mut creator_events).await;
    assert_eq!(private["event"], "tip.note");
    assert_eq!(private["data"]["note"], "great show");

    // A retry with the same key does not charge again.
    let res = app
        .http
        .post(app.url("/v1/tips"))
        .bearer_auth(&fan)
        .header("Idempotency-Key", "tip-1")
        .json(&json!({"room_id": room, "amount": 150, "note": "great show"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(app.balance(&fan).await, 350);

    // Only the private room's fan may tip in it; bounds; ended rooms.
    let (_, stranger) = app.user(Role::Fan).await;
    app.dev_top_up(&stranger, 500).await;
    let res = app.post("/v1/tips", &stranger, json!({"room_id": room, "amount": 10})).await;
    assert_eq!(code_of(res).await, (403, "forbidden".into()));
    let res = app.post("/v1/tips", &fan, json!({"room_id": room, "amount": 0})).await;
    assert_eq!(code_of(res).await, (400, "invalid_input".into()));
    let res = app.post("/v1/tips", &fan, json!({"room_id": room, "amount": 10, "note": "x".repeat(281)})).await;
    assert_eq!(code_of(res).await, (400, "invalid_input".into()));
    let res = app.post("/v1/tips", &fan, json!({"room_id": uuid::Uuid::new_v4(), "amount": 10})).await;
    assert_eq!(code_of(res).await, (404, "not_found".into()));
    assert!(app.rooms.stand_in.end(room));
    let res = app.post("/v1/tips", &fan, json!({"room_id": room, "amount": 10})).await;
    assert_eq!(code_of(res).await, (409, "room_not_live".into()));
    app.assert_ledger_ok().await;
}

/// A tip retried with the same key (another socket, node or client) is charged once and
/// answered with the original transaction; the key cannot be reused for another tip.
#[tokio::test]
async fn a_retried_tip_is_answered_with_the_original_transaction() {
    let app = TestApp::spawn().await;
    let (creator, _) = app.user(Role::Creator).await;
    let (_, fan_token) = app.user(Role::Fan).await;
    app.dev_top_up(&fan_token, 1_000).await;
    let room = app.room("broadcast", creator, None, app.clock.now_ts()).await;
    let tip = |amount: i64| {
        app.http
            .post(app.url("/v1/tips"))
            .bearer_auth(&fan_token)
            .header("Idempotency-Key", "client-key-1")
            .json(&json!({"room_id": room, "amount": amount}))
            .send()
    };
    let first: Value = tip(100).await.unwrap().json().await.unwrap();
    let again = tip(100).await.unwrap();
    assert_eq!(again.status(), 201);
    let again: Value = again.json().await.unwrap();
    assert!(first["transaction_id"].is_string());
    assert_eq!(again["transaction_id"], first["transaction_id"], "the original transaction");
    assert_eq!((first["replayed"].as_bool(), again["replayed"].as_bool()), (Some(false), Some(true)));
    assert_eq!(app.balance(&fan_token).await, 900, "charged once");
    let res = tip(300).await.unwrap();
    assert_eq!(code_of(res).await, (409, "idempotency_key_reused".into()));
    assert_eq!(app.balance(&fan_token).await, 900);
    app.assert_ledger_ok().await;
}
