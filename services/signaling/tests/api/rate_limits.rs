//! Every message type counts against a rate limit, per user and per client address, on every
//! node (chat's own test is in `errors`).

use crate::helpers::{settings, Client, Cluster};
use serde_json::json;
use tandem_shared::ids::Role;
use tandem_shared::rate_limit::{Class, ClassLimits, FailMode, Limit, RateLimits};

fn limits(class: Class, user: Option<Limit>, addr: Option<Limit>) -> RateLimits {
    let mut l = RateLimits::off();
    l.set(class, ClassLimits { user, addr, fail: FailMode::Open });
    l
}

#[tokio::test]
async fn heartbeats_over_the_per_user_limit_get_rate_limited_on_any_node() {
    let l = limits(Class::WsHeartbeat, Some(Limit::per(2, 60)), None);
    let c = Cluster::with_limits(settings("node-a"), settings("node-b"), l).await;
    let (host, host_token) = c.user(Role::Creator).await;
    let (_, fan_token) = c.user(Role::Fan).await;
    let room = c.room("broadcast", host, None).await;
    let mut on_a = Client::connect(&c.a.ws_url(&host_token, "")).await;
    let mut on_b = Client::connect(&c.b.ws_url(&host_token, "")).await;
    on_a.join(room).await;
    on_b.join(room).await;
    on_a.ok(json!({"type": "heartbeat"})).await;
    on_b.ok(json!({"type": "heartbeat"})).await;
    let r = on_a.request(json!({"type": "heartbeat"})).await;
    assert_eq!((r["type"].as_str(), r["code"].as_str()), (Some("error"), Some("rate_limited")), "{r}");
    assert!(r["message"].as_str().is_some_and(|m| m.contains("heartbeat")), "{r}");
    // Other message types have their own budget, other users theirs, and the socket stays open.
    on_a.ok(json!({"type": "chat", "text": "still here"})).await;
    let mut fan = Client::connect(&c.b.ws_url(&fan_token, "")).await;
    fan.join(room).await;
    fan.ok(json!({"type": "heartbeat"})).await;
    // Each limiter key expires.
    let mut conn = c.t.core.redis.conn.clone();
    let key = c.t.core.redis.key(format_args!("rl:ws_heartbeat:u:{host}"));
    let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut conn).await.unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "PTTL {ttl}");
}

#[tokio::test]
async fn joins_from_one_address_share_its_budget_across_users_and_nodes() {
    let l = limits(Class::WsJoin, None, Some(Limit::per(3, 60)));
    let c = Cluster::with_limits(settings("node-a"), settings("node-b"), l).await;
    let (host, _) = c.user(Role::Creator).await;
    let (_, ann) = c.user(Role::Fan).await;
    let (_, ben) = c.user(Role::Fan).await;
    let room = c.room("broadcast", host, None).await;
    let mut a = Client::connect(&c.a.ws_url(&ann, "")).await;
    let mut b = Client::connect(&c.b.ws_url(&ben, "")).await;
    a.join(room).await;
    a.ok(json!({"type": "leave"})).await;
    b.join(room).await;
    b.refused(json!({"type": "leave"}), "rate_limited").await;
    a.refused(json!({"type": "join", "room_id": room}), "rate_limited").await;
}
