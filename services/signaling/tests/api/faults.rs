//! Faults: a node dying without a goodbye, Redis restarting empty.

use crate::helpers::{settings, Client, Cluster, DEADLINE};
use futures_util::StreamExt;
use serde_json::json;
use std::time::Duration;
use tandem_shared::ids::Role;
use tandem_shared::testing::RedisServer;
use tokio_tungstenite::tungstenite::Message;

/// Fast heartbeats and a short resume window, so dead nodes are noticed within seconds.
fn quick(node: &str) -> tandem_signaling::SignalingSettings {
    let mut s = settings(node);
    // Dead after 3 missed beats (6 s): margin for a loaded CI machine delaying a live node's beat.
    s.place_refresh = Duration::from_secs(2);
    s.resume_window = Duration::from_secs(4);
    s.chat_rate = 1000;
    s
}

/// The next event of type `kind` within `within` (quiet periods may outlast the usual deadline).
async fn wait_for(c: &mut Client, kind: &str, within: Duration) -> serde_json::Value {
    let wait = async {
        loop {
            match c.ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    let v: serde_json::Value = serde_json::from_str(&t).expect("JSON");
                    if v["type"] == kind {
                        return v;
                    }
                }
                Some(Ok(_)) => continue,
                other => panic!("socket ended waiting for {kind}: {other:?}"),
            }
        }
    };
    tokio::time::timeout(within, wait).await.unwrap_or_else(|_| panic!("no {kind} within {within:?}"))
}

/// Read until the socket ends; true when it ended without a close frame (no goodbye).
async fn ends_without_goodbye(c: &mut Client) -> bool {
    loop {
        match tokio::time::timeout(DEADLINE, c.ws.next()).await.expect("the socket ends") {
            None | Some(Err(_)) => return true,
            Some(Ok(Message::Close(_))) => return false,
            Some(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn a_socket_resumes_on_another_node_after_its_node_died_and_the_peer_sees_no_flap() {
    let c = Cluster::crashable(quick("node-a"), quick("node-b")).await;
    let (creator, creator_token) = c.user(Role::Creator).await;
    let (fan, fan_token) = c.user(Role::Fan).await;
    let room = c.room("private", creator, Some(fan)).await;
    let mut k = Client::connect(&c.b.ws_url(&creator_token, "")).await;
    let mut f = Client::connect(&c.a.ws_url(&fan_token, "")).await;
    k.join(room).await;
    f.join(room).await;
    k.ok(json!({"type": "chat", "text": "one"})).await;
    let last_seq = f.until_chat("one", &["chat"]).await[0]["room_seq"].as_u64().unwrap();
    k.until_chat("one", &[]).await;

    // Node A dies: the fan's socket ends with no close frame and no resume record is written.
    let token = f.resume_token();
    c.a.crash().await;
    assert!(ends_without_goodbye(&mut f).await, "a crashed node says no goodbye");
    drop(f);
    k.ok(json!({"type": "chat", "text": "two"})).await;

    let url = c.b.ws_url(&fan_token, &format!("&resume_token={token}&last_seq={last_seq}"));
    let mut f = Client::connect(&url).await;
    assert_eq!(f.welcome["resumed"], true, "{}", f.welcome);
    assert_eq!(f.welcome["room_id"], room.to_string());
    k.ok(json!({"type": "chat", "text": "three"})).await;
    let chats = f.until_chat("three", &["chat"]).await;
    let texts: Vec<_> = chats.iter().map(|c| c["text"].as_str().unwrap_or("-").to_string()).collect();
    assert_eq!(texts, ["two", "three"]);

    // Past the sweep of node A (6 s) and the resume window: the creator never saw the fan leave.
    tokio::time::sleep(Duration::from_secs(11)).await;
    f.ok(json!({"type": "chat", "text": "back"})).await;
    let peer_view = k.until_chat("back", &["member.joined", "member.left"]).await;
    assert!(peer_view.is_empty(), "the creator saw the fan leave or join: {peer_view:?}");
}

#[tokio::test]
async fn a_dead_nodes_sockets_are_announced_gone_and_its_viewers_and_socket_places_freed() {
    let c = Cluster::crashable(quick("node-a"), quick("node-b")).await;
    let (creator, creator_token) = c.user(Role::Creator).await;
    let (fan, fan_token) = c.user(Role::Fan).await;
    let private = c.room("private", creator, Some(fan)).await;
    let (host, host_token) = c.user(Role::Creator).await;
    let show = c.room("broadcast", host, None).await;
    let mut k = Client::connect(&c.b.ws_url(&creator_token, "")).await;
    k.join(private).await;
    let mut h = Client::connect(&c.b.ws_url(&host_token, "")).await;
    h.join(show).await;
    let mut f = Client::connect(&c.a.ws_url(&fan_token, "")).await;
    f.join(private).await;
    let mut viewers = Vec::new();
    for _ in 0..2 {
        let (_, t) = c.user(Role::Fan).await;
        let mut v = Client::connect(&c.a.ws_url(&t, "")).await;
        v.join(show).await;
        viewers.push(v);
    }
    while h.event_of("viewers").await["count"] != 2 {}

    c.a.crash().await;
    // Nobody resumes: after the sweep (3 heartbeats) and the resume window, the fan is gone.
    let left = wait_for(&mut k, "member.left", Duration::from_secs(25)).await;
    assert_eq!(left["user_id"], fan.to_string());
    assert_eq!(left["reason"], "disconnected");
    // Node A's viewers no longer count.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let counts = tandem_shared::live::viewer_counts(&c.b.core.redis, &[show]).await.unwrap();
        if counts == [0] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "node A's viewer count was not removed: {counts:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The fan's socket place on the dead node was given back: its cap counts only live sockets.
    let mut conn = c.b.core.redis.conn.clone();
    let held: u64 =
        redis::AsyncCommands::zcard(&mut conn, c.b.core.redis.key(format_args!("sig:socks:{fan}"))).await.unwrap();
    assert_eq!(held, 0, "the dead node's socket still counts against the fan's cap");
}

#[tokio::test]
async fn events_after_a_redis_restart_reach_every_member() {
    let mut redis = RedisServer::start();
    let c = Cluster::on_redis(&redis.url(), quick("node-a"), quick("node-b")).await;
    let (creator, creator_token) = c.user(Role::Creator).await;
    let (fan, fan_token) = c.user(Role::Fan).await;
    let room = c.room("private", creator, Some(fan)).await;
    let mut k = Client::connect(&c.b.ws_url(&creator_token, "")).await;
    let mut f = Client::connect(&c.a.ws_url(&fan_token, "")).await;
    k.join(room).await;
    f.join(room).await;
    for i in 0..20 {
        k.ok(json!({"type": "chat", "text": format!("before {i}")})).await;
    }
    f.until_chat("before 19", &[]).await;
    k.until_chat("before 19", &[]).await;

    redis.restart();
    // Publishing fails while the connections come back; retry until one is accepted.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = k.request(json!({"type": "chat", "text": "after"})).await;
        if r["type"] == "ack" {
            break;
        }
        assert_eq!(r["code"], "unavailable", "{r}");
        assert!(std::time::Instant::now() < deadline, "signaling did not recover after Redis restarted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The new events are numbered after the old ones, so no member drops them as seen.
    for (who, client) in [("fan", &mut f), ("creator", &mut k)] {
        let got = tokio::time::timeout(Duration::from_secs(10), client.until_chat("after", &["chat"])).await;
        let chats = got.unwrap_or_else(|_| panic!("the {who} missed the event after the restart"));
        assert!(!chats.is_empty());
    }
    f.ok(json!({"type": "chat", "text": "and back"})).await;
    k.until_chat("and back", &[]).await;
}
