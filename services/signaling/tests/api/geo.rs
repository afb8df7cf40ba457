//! Geo-blocking: a creator blocks a country; a viewer whose client address maps to it (in a
//! MaxMind-format database the test writes) does not see the creator's room in `GET /v1/rooms`,
//! gets `403 geo_blocked` on the room and `geo_blocked` on a signaling join, on either node.
//! `X-Forwarded-For` counts only from a trusted proxy.

use crate::moderation::Deployment;
use serde_json::{json, Value};
use std::net::Ipv4Addr;
use std::sync::Arc;
use tandem_shared::client_addr::TrustedProxies;
use tandem_shared::geo::{testing::country_db, Geo};
use tandem_shared::ids::Role;
use tandem_shared::server::Core;

/// Loopback (where the test's requests come from) is in France; 10.9/16 is in Texas.
fn geo(core: &mut Core, trust_loopback: bool) {
    let db =
        country_db(&[(Ipv4Addr::new(127, 0, 0, 0), 8, "FR", None), (Ipv4Addr::new(10, 9, 0, 0), 16, "US", Some("TX"))]);
    core.geo = Geo::from_bytes(db).expect("test database");
    let mut settings = (*core.settings).clone();
    settings.trusted_proxies = TrustedProxies::parse(if trust_loopback { "127.0.0.1" } else { "" }).expect("cidr");
    core.settings = Arc::new(settings);
}

async fn listed(d: &Deployment, forwarded_for: Option<&str>) -> Vec<String> {
    let mut req = d.http.get(d.a.url("/v1/rooms?live=true"));
    if let Some(f) = forwarded_for {
        req = req.header("x-forwarded-for", f);
    }
    let body: Value = req.send().await.expect("sent").json().await.expect("json");
    body["rooms"].as_array().expect("rooms").iter().map(|r| r["id"].as_str().unwrap_or("").to_string()).collect()
}

async fn room_status(d: &Deployment, token: &str, room: &str, forwarded_for: Option<&str>) -> (u16, String) {
    let mut req = d.http.get(d.a.url(&format!("/v1/rooms/{room}"))).bearer_auth(token);
    if let Some(f) = forwarded_for {
        req = req.header("x-forwarded-for", f);
    }
    let res = req.send().await.expect("sent");
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().unwrap_or("").to_string())
}

#[tokio::test]
async fn a_viewer_in_a_blocked_country_neither_sees_nor_joins_and_an_untrusted_forwarded_for_is_ignored() {
    let d = Deployment::start_with(|core| geo(core, false)).await;
    let host = d.t.user(Role::Creator).await;
    let viewer = d.t.user(Role::Fan).await;
    let res = d.call(reqwest::Method::POST, &host, "/v1/rooms", Some(json!({"title": "not in france"}))).await;
    assert_eq!(res.status(), 201);
    let room = res.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    assert!(listed(&d, None).await.contains(&room), "listed before the block");

    let res = d.call(reqwest::Method::PUT, &host, "/v1/creator/safety", Some(json!({"blocked_regions": ["fr"]}))).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.expect("json")["blocked_regions"], json!(["FR"]));

    // From loopback (France): hidden, refused over REST and over signaling on both nodes.
    assert!(!listed(&d, None).await.contains(&room));
    assert_eq!(room_status(&d, &viewer.token, &room, None).await, (403, "geo_blocked".to_string()));
    for node in [&d.a, &d.b] {
        let mut c = d.connect(node, &viewer).await;
        c.refused(json!({"type": "join", "room_id": room}), "geo_blocked").await;
    }
    // Claiming Texas in X-Forwarded-For changes nothing: no proxy is trusted.
    assert!(!listed(&d, Some("10.9.1.1")).await.contains(&room));
    assert_eq!(room_status(&d, &viewer.token, &room, Some("10.9.1.1")).await.1, "geo_blocked");
    // The host still sees and runs their room.
    assert_eq!(room_status(&d, &host.token, &room, None).await.0, 200);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_address_decides() {
    let d = Deployment::start_with(|core| geo(core, true)).await;
    let host = d.t.user(Role::Creator).await;
    let viewer = d.t.user(Role::Fan).await;
    let res = d.call(reqwest::Method::POST, &host, "/v1/rooms", Some(json!({"title": "no texas"}))).await;
    assert_eq!(res.status(), 201);
    let room = res.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    let res =
        d.call(reqwest::Method::PUT, &host, "/v1/creator/safety", Some(json!({"blocked_regions": ["US-TX"]}))).await;
    assert_eq!(res.status(), 200);
    // The proxy (loopback, trusted) says the client is in Texas: blocked by the subdivision.
    assert!(!listed(&d, Some("10.9.3.4")).await.contains(&room));
    assert_eq!(room_status(&d, &viewer.token, &room, Some("10.9.3.4")).await.1, "geo_blocked");
    // A client in France behind the same proxy sees and joins.
    assert!(listed(&d, Some("127.8.8.8")).await.contains(&room));
    assert_eq!(room_status(&d, &viewer.token, &room, Some("127.8.8.8")).await.0, 200);
    // Bad values are refused.
    let res =
        d.call(reqwest::Method::PUT, &host, "/v1/creator/safety", Some(json!({"blocked_regions": ["France"]}))).await;
    assert_eq!(res.status(), 400);
}
