use crate::helpers::{settings, TestApp};
use serde_json::json;
use std::time::Duration;
use tandem_shared::ids::Role;

#[tokio::test]
async fn heartbeat_loss_ends_a_room_exactly_once_with_two_brokers() {
    let mut s = settings();
    s.heartbeat_grace = Duration::from_secs(1);
    s.reaper_interval = Duration::from_millis(50);
    let app = TestApp::spawn_with(s.clone()).await;
    let second = app.second_node(s).await;
    let events = app.events().await;

    let creator = app.creator_online().await;
    let fan = app.user(Role::Fan).await;
    let rid = app.request_id(&fan, &creator).await;
    let res = app.post(&creator, &format!("/v1/private-requests/{rid}/accept"), json!({})).await;
    let room_id = res.json::<serde_json::Value>().await.unwrap()["room"]["id"].as_str().unwrap().to_string();
    let broadcaster = app.user(Role::Creator).await;
    let live = app.open_room(&broadcaster).await;
    let kept = live["id"].as_str().unwrap().to_string();

    // Keep the broadcast alive; let the private room go quiet.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        assert_eq!(app.post(&broadcaster, &format!("/v1/rooms/{kept}/heartbeat"), json!({})).await.status(), 204);
        if app.room_row(&room_id).await.is_some_and(|(s, _)| s == "ended") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the private room was not reaped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.room_row(&room_id).await.unwrap().1.as_deref(), Some("heartbeat_lost"));
    // Several reaper ticks on both nodes later, still one end.
    for _ in 0..6 {
        app.post(&broadcaster, &format!("/v1/rooms/{kept}/heartbeat"), json!({})).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(events.on(&format!("room:{room_id}")).len(), 1, "room.ended published exactly once");
    assert_eq!(app.room_row(&kept).await.unwrap().0, "live", "a heartbeating room stays live");
    let presence: serde_json::Value =
        app.get(&fan, &format!("/v1/presence/{}", creator.id)).await.json().await.unwrap();
    assert_eq!(presence["status"], "online", "the availability lock was released");
    second.shutdown.cancel();
}

#[tokio::test]
async fn rooms_whose_heartbeats_vanished_from_redis_get_one_grace_period() {
    let mut s = settings();
    s.heartbeat_grace = Duration::from_secs(1);
    s.reaper_interval = Duration::from_millis(50);
    let app = TestApp::spawn_with(s).await;
    let creator = app.user(Role::Creator).await;
    let room = app.open_room(&creator).await;
    let id = room["id"].as_str().unwrap().to_string();
    // Redis loses the heartbeat set (restart without persistence).
    let mut c = app.t.core.redis.conn.clone();
    redis::cmd("DEL")
        .arg(tandem_shared::live::heartbeats_key(&app.t.core.redis))
        .query_async::<()>(&mut c)
        .await
        .unwrap();
    app.eventually(Duration::from_secs(5), || async {
        app.room_row(&id).await.filter(|(s, _)| s == "ended").map(|(_, r)| r)
    })
    .await;
    assert_eq!(app.room_row(&id).await.unwrap().1.as_deref(), Some("heartbeat_lost"));
}
