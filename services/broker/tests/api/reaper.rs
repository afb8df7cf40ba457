use crate::helpers::{settings, TestApp};
use serde_json::json;
use std::time::Duration;
use tandem_broker::reaper::run_once;
use tandem_shared::ids::Role;

#[tokio::test]
async fn heartbeat_loss_ends_a_room_exactly_once_with_two_brokers() {
    let mut s = settings();
    s.heartbeat_grace = Duration::from_secs(1);
    // Background reapers run once at start, then the test drives both nodes' passes at once.
    s.reaper_interval = Duration::from_secs(3600);
    let app = TestApp::spawn_with(s.clone()).await;
    let (second, other_broker) = app.second_node(s).await;
    let events = app.events().await;

    let mut quiet = Vec::new();
    let mut fans = Vec::new();
    for _ in 0..4 {
        let creator = app.creator_online().await;
        let fan = app.user(Role::Fan).await;
        let rid = app.request_id(&fan, &creator).await;
        let res = app.post(&creator, &format!("/v1/private-requests/{rid}/accept"), json!({})).await;
        quiet.push(res.json::<serde_json::Value>().await.unwrap()["room"]["id"].as_str().unwrap().to_string());
        fans.push((fan, creator));
    }
    let broadcaster = app.user(Role::Creator).await;
    let kept = app.open_room(&broadcaster).await["id"].as_str().unwrap().to_string();

    // Within the grace period nothing ends.
    let (a, b) = tokio::join!(run_once(&app.broker), run_once(&other_broker));
    a.unwrap();
    b.unwrap();
    assert!(app.room_row(&quiet[0]).await.is_some_and(|(s, _)| s == "live"));

    // Past it, both nodes reap at the same moment, several times over.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.post(&broadcaster, &format!("/v1/rooms/{kept}/heartbeat"), json!({})).await.status(), 204);
    for _ in 0..3 {
        let (a, b) = tokio::join!(run_once(&app.broker), run_once(&other_broker));
        a.unwrap();
        b.unwrap();
    }
    for room_id in &quiet {
        assert_eq!(app.room_row(room_id).await.unwrap().1.as_deref(), Some("heartbeat_lost"));
    }
    assert_eq!(app.room_row(&kept).await.unwrap().0, "live", "a heartbeating room stays live");
    tokio::time::sleep(Duration::from_millis(200)).await;
    for room_id in &quiet {
        assert_eq!(events.on(&format!("room:{room_id}")).len(), 1, "room.ended published exactly once");
    }
    for (fan, creator) in &fans {
        let presence: serde_json::Value =
            app.get(fan, &format!("/v1/presence/{}", creator.id)).await.json().await.unwrap();
        assert_eq!(presence["status"], "online", "the availability lock was released");
    }
    second.shutdown.cancel();
}

#[tokio::test]
async fn background_reapers_end_quiet_rooms() {
    let mut s = settings();
    s.heartbeat_grace = Duration::from_secs(1);
    s.reaper_interval = Duration::from_millis(50);
    let app = TestApp::spawn_with(s.clone()).await;
    let (second, _) = app.second_node(s).await;
    let creator = app.user(Role::Creator).await;
    let id = app.open_room(&creator).await["id"].as_str().unwrap().to_string();
    app.eventually(Duration::from_secs(10), || async { app.room_row(&id).await.and_then(|(_, r)| r) }).await;
    assert_eq!(app.room_row(&id).await.unwrap().1.as_deref(), Some("heartbeat_lost"));
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

#[tokio::test]
async fn a_lost_availability_lock_is_retaken_for_live_private_rooms() {
    let app = TestApp::spawn().await;
    let creator = app.creator_online().await;
    let fan = app.user(Role::Fan).await;
    let rid = app.request_id(&fan, &creator).await;
    assert_eq!(app.post(&creator, &format!("/v1/private-requests/{rid}/accept"), json!({})).await.status(), 200);
    let mut c = app.t.core.redis.conn.clone();
    redis::cmd("DEL")
        .arg(app.t.core.redis.key(format_args!("avail:{}", creator.id)))
        .query_async::<()>(&mut c)
        .await
        .unwrap();
    let presence: serde_json::Value =
        app.get(&fan, &format!("/v1/presence/{}", creator.id)).await.json().await.unwrap();
    assert_eq!(presence["status"], "online", "Redis forgot the session");
    assert_eq!(tandem_broker::reaper::reconcile_locks(&app.broker).await.unwrap(), 1);
    let presence: serde_json::Value =
        app.get(&fan, &format!("/v1/presence/{}", creator.id)).await.json().await.unwrap();
    assert_eq!(presence["status"], "busy", "rebuilt from PostgreSQL");
    assert_eq!(tandem_broker::reaper::reconcile_locks(&app.broker).await.unwrap(), 0, "idempotent");
}

#[tokio::test]
async fn after_redis_comes_back_empty_the_reaper_retakes_the_locks_of_live_private_rooms() {
    let app = TestApp::spawn().await;
    // As in a deployment, auth refills its revocation cache when Redis comes back empty.
    tandem_auth::revocations::spawn_watcher(app.t.core.clone());
    let creator = app.creator_online().await;
    let fan = app.user(Role::Fan).await;
    let rid = app.request_id(&fan, &creator).await;
    assert_eq!(app.post(&creator, &format!("/v1/private-requests/{rid}/accept"), json!({})).await.status(), 200);
    // Redis restarts empty: every key of this deployment is gone, the reaper's marker included.
    let mut c = app.t.core.redis.conn.clone();
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{}*", app.t.core.redis.prefix())).query_async(&mut c).await.unwrap();
    redis::cmd("DEL").arg(&keys).query_async::<()>(&mut c).await.unwrap();
    let status = app
        .eventually(Duration::from_secs(10), || async {
            let presence: serde_json::Value =
                app.get(&fan, &format!("/v1/presence/{}", creator.id)).await.json().await.ok()?;
            (presence["status"] == "busy").then_some(presence)
        })
        .await;
    assert_eq!(status["status"], "busy", "the lock was rebuilt from PostgreSQL without a restart");
}

#[tokio::test]
async fn while_redis_is_down_requests_get_503_with_retry_after_and_recover_after() {
    let mut redis = tandem_shared::testing::RedisServer::start();
    let app = TestApp::spawn_on(tandem_shared::testing::TestCore::with_redis(&redis.url()).await, settings()).await;
    tandem_auth::revocations::spawn_watcher(app.t.core.clone());
    let creator = app.user(Role::Creator).await;
    assert!(app.put(&creator, "/v1/presence", json!({"status": "online"})).await.status().is_success());
    redis.kill();
    let res = app.put(&creator, "/v1/presence", json!({"status": "online"})).await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "unavailable", "{body}");
    redis.restart();
    let status = app
        .eventually(Duration::from_secs(10), || async {
            let s = app.put(&creator, "/v1/presence", json!({"status": "online"})).await.status();
            s.is_success().then_some(s)
        })
        .await;
    assert!(status.is_success());
}
