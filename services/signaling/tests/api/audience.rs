//! Audience numbers end to end: viewers of a showcase on two signaling nodes (some dropping and
//! resuming on the other node, some reconnecting afresh), counted by signaling, consumed by a
//! real broker from the Redis Stream, read back from the showcase report.

use crate::helpers::{settings, Client};
use futures_util::SinkExt;
use serde_json::{json, Value};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use tandem_shared::contracts::{ai::RemoteAiControl, rooms::RemoteRoomControl, InternalClient};
use tandem_shared::ids::Role;
use tandem_shared::media_token::MediaKey;
use tandem_shared::redis::RedisHandle;
use tandem_shared::service_auth::ServiceName;
use tandem_shared::testing::{redis_url, TestCore, TestServer, TestUser};
use tandem_signaling::service_with;
use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame};
use tokio_tungstenite::tungstenite::Message;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A viewer as the test sees it: when it watched, by its own clock.
struct Viewer {
    user: TestUser,
    client: Option<Client>,
    since: i64,
    watched_ms: i64,
}

impl Viewer {
    async fn join(server: &TestServer, user: TestUser, room: &str) -> Self {
        let mut c = Client::connect(&format!("ws://{}/v1/ws?access_token={}", server.addr, user.token)).await;
        assert_eq!(c.ok(json!({"type": "join", "room_id": room})).await["data"]["role"], "viewer");
        Self { user, client: Some(c), since: now_ms(), watched_ms: 0 }
    }

    /// Leave with a normal close.
    async fn leave(&mut self) {
        let mut c = self.client.take().expect("connected");
        let frame = CloseFrame { code: CloseCode::Normal, reason: "bye".into() };
        c.ws.send(Message::Close(Some(frame))).await.unwrap();
        self.watched_ms += now_ms() - self.since;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn n_viewers_on_two_nodes_some_reconnecting_give_exactly_n_unique_viewers_the_peak_and_their_watch_time() {
    // Node A: broker and signaling in one process; node B: signaling reaching it over HTTP.
    let t = TestCore::new().await;
    let users: Arc<dyn tandem_shared::hooks::UserDirectory> =
        Arc::new(tandem_auth::directory::Directory::new(t.core.db.clone()));
    t.core.hooks.set_users(users.clone());
    let mut bs = tandem_broker::BrokerSettings::relay_defaults();
    bs.view_min = Duration::from_secs(1);
    let broker = tandem_broker::build(&t.core, bs, MediaKey::generate(), false).expect("broker builds");
    let sig_a = service_with(&t.core, settings("node-a")).expect("node a builds");
    let a = TestCore::spawn(&t.core, vec![Arc::new(broker), sig_a]);
    let mut core_b = t.core.clone();
    core_b.db = tandem_shared::db::connect(&t.database_url, 5).await.expect("second pool");
    core_b.redis = RedisHandle::connect(&redis_url(), t.core.redis.prefix()).await.expect("second redis");
    core_b.shutdown = t.core.shutdown.child_token();
    core_b.draining = Arc::new(AtomicBool::new(false));
    core_b.hooks = tandem_shared::hooks::Hooks::default();
    let client =
        InternalClient::new(&a.url(""), t.core.service_key.clone(), ServiceName::Signaling, ServiceName::Broker)
            .unwrap();
    core_b.hooks.set_rooms(Arc::new(RemoteRoomControl::new(client.clone())));
    core_b.hooks.set_ai(Arc::new(RemoteAiControl::new(client)));
    core_b.hooks.set_users(users);
    let sig_b = service_with(&core_b, settings("node-b")).expect("node b builds");
    let b = TestCore::spawn(&core_b, vec![sig_b]);

    // A started showcase.
    let http = reqwest::Client::new();
    let artist = t.user(Role::Creator).await;
    let starts = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let s: Value = http
        .post(a.url("/v1/showcases"))
        .bearer_auth(&artist.token)
        .json(&json!({"title": "Counted", "starts_at": starts, "artists": [artist.id]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = s["id"].as_str().unwrap().to_string();
    let live: Value = http
        .post(a.url(&format!("/v1/showcases/{id}/start")))
        .bearer_auth(&artist.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let room = live["room_id"].as_str().unwrap().to_string();

    // Six viewers join, three on each node: the peak.
    let mut v = Vec::new();
    for i in 0..6 {
        let server = if i < 3 { &a } else { &b };
        v.push(Viewer::join(server, t.user(Role::Fan).await, &room).await);
    }
    let chatter = v[3].client.as_mut().unwrap();
    chatter.ok(json!({"type": "chat", "text": "hello"})).await;
    chatter.ok(json!({"type": "chat", "text": "again"})).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Viewer 1's connection drops (no close frame) and resumes on node B.
    let c1 = v[1].client.take().unwrap();
    let token = c1.resume_token();
    drop(c1);
    v[1].watched_ms += now_ms() - v[1].since;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let url = format!("ws://{}/v1/ws?access_token={}&resume_token={token}&last_seq=0", b.addr, v[1].user.token);
    let resumed = Client::connect(&url).await;
    assert_eq!(resumed.welcome["resumed"], true, "{}", resumed.welcome);
    v[1].since = now_ms();
    v[1].client = Some(resumed);
    // Viewer 4 closes and comes back afresh on node A.
    v[4].leave().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let user4 = TestUser { id: v[4].user.id, handle: v[4].user.handle.clone(), token: v[4].user.token.clone() };
    let back = Viewer::join(&a, user4, &room).await;
    v[4].client = back.client;
    v[4].since = back.since;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Two leave, two newcomers take their places: eight viewers, never more than six at once.
    v[0].leave().await;
    v[2].leave().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    v.push(Viewer::join(&a, t.user(Role::Fan).await, &room).await);
    v.push(Viewer::join(&b, t.user(Role::Fan).await, &room).await);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for viewer in v.iter_mut().filter(|x| x.client.is_some()) {
        viewer.leave().await;
    }
    let expected_ms: i64 = v.iter().map(|x| x.watched_ms).sum();
    let res = http.post(a.url(&format!("/v1/showcases/{id}/end"))).bearer_auth(&artist.token).send().await.unwrap();
    assert_eq!(res.status(), 200);

    // Signaling sends its numbers within a second; the broker consumes them.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let report = loop {
        let r: Value = http
            .get(a.url(&format!("/v1/reports/showcases/{id}")))
            .bearer_auth(&artist.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let close = worst_viewer_error_ms(&r, &v).is_some_and(|err| err <= 1000);
        if r["numbers"]["unique_viewers"] == 8 && r["numbers"]["chat_messages"] == 2 && close {
            break r;
        }
        assert!(tokio::time::Instant::now() < deadline, "report {r} (expected {expected_ms} ms of watching)");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let n = &report["numbers"];
    assert_eq!(n["unique_viewers"], 8);
    assert_eq!(n["views"], 8, "a drop and resume, or a quick reconnect, stays one view");
    assert_eq!(n["peak_concurrent"], 6);
    let watched = n["watch_minutes"].as_f64().unwrap() * 60_000.0;
    eprintln!("watched {watched} ms by the report, {expected_ms} ms by the viewers' clocks");
    let worst = worst_viewer_error_ms(&report, &v).expect("every viewer is in the report");
    eprintln!("the worst viewer is {worst} ms off");
    assert!(worst <= 1000, "a viewer's watch time is {worst} ms off");
    // The total is the sum of the viewers' times, each within a second.
    assert!((watched - expected_ms as f64).abs() <= 8.0 * 1000.0, "watched {watched} ms, expected {expected_ms} ms");
}

/// The largest difference between a viewer's watch time in the report and by their own clock,
/// or `None` while a viewer is missing from the report.
fn worst_viewer_error_ms(report: &Value, viewers: &[Viewer]) -> Option<i64> {
    let listed = report["numbers"]["top_viewers"].as_array()?;
    let mut worst = 0;
    for viewer in viewers {
        let id = viewer.user.id.to_string();
        let row = listed.iter().find(|r| r["user_id"].as_str() == Some(id.as_str()))?;
        let reported_ms = (row["watch_seconds"].as_f64()? * 1000.0).round() as i64;
        worst = worst.max((reported_ms - viewer.watched_ms).abs());
    }
    Some(worst)
}
