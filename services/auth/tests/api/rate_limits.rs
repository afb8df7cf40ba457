//! Rate limits on auth's routes: per client address, across servers sharing Redis, before the
//! body is read or a password hashed.

use crate::helpers::PASSWORD;
use serde_json::json;
use std::sync::Arc;
use tandem_shared::rate_limit::{Class, Limit};
use tandem_shared::redis::RedisHandle;
use tandem_shared::testing::{redis_url, TestCore, TestServer};

/// Two auth servers on one database and Redis prefix, auth limited to `per_addr` per minute.
async fn two_servers(per_addr: u32) -> (TestCore, TestServer, TestServer) {
    let mut t = TestCore::new().await;
    let mut settings = (*t.core.settings).clone();
    let mut auth = settings.rate_limits.get(Class::Auth);
    auth.addr = Some(Limit::per(per_addr, 60));
    settings.rate_limits.set(Class::Auth, auth);
    t.core.settings = Arc::new(settings);
    let a = TestCore::spawn(&t.core, vec![tandem_auth::service(&t.core).await.expect("auth builds")]);
    let mut core_b = t.core.clone();
    core_b.redis = RedisHandle::connect(&redis_url(), t.core.redis.prefix()).await.expect("second redis");
    let b = TestCore::spawn(&core_b, vec![tandem_auth::service(&core_b).await.expect("auth builds")]);
    (t, a, b)
}

#[tokio::test]
async fn the_per_address_limit_holds_across_servers_and_refuses_with_retry_after() {
    let (t, a, b) = two_servers(3).await;
    let http = reqwest::Client::new();
    let signup = |server: &TestServer, n: u32| {
        http.post(server.url("/v1/auth/signup"))
            .json(&json!({"email": format!("u{n}@example.com"), "password": PASSWORD, "handle": format!("user{n}"), "role": "fan"}))
            .send()
    };
    assert_eq!(signup(&a, 1).await.unwrap().status(), 201);
    assert_eq!(signup(&b, 2).await.unwrap().status(), 201);
    let login = http
        .post(b.url("/v1/auth/login"))
        .json(&json!({"email": "u1@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    // The fourth request of this address, on either server, is refused before its body is read:
    // even a body that is not JSON gets 429, not 400.
    for server in [&a, &b] {
        let res = http
            .post(server.url("/v1/auth/login"))
            .header("content-type", "application/json")
            .body("not json")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 429);
        let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=20).contains(&retry), "Retry-After {retry}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], "rate_limited");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Nothing was created by the refused requests, and every limiter key expires.
    let mut conn = t.core.redis.conn.clone();
    let keys: Vec<String> = redis::cmd("KEYS").arg(t.core.redis.key("rl:*")).query_async(&mut conn).await.unwrap();
    assert_eq!(keys, vec![t.core.redis.key("rl:auth:a:127.0.0.1")]);
    let ttl: i64 = redis::cmd("PTTL").arg(&keys[0]).query_async(&mut conn).await.unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "PTTL {ttl}");
}

#[tokio::test]
async fn each_address_has_its_own_budget_behind_a_trusted_proxy() {
    let mut t = TestCore::new().await;
    let mut settings = (*t.core.settings).clone();
    settings.trusted_proxies = tandem_shared::client_addr::TrustedProxies::parse("127.0.0.1").unwrap();
    let mut auth = settings.rate_limits.get(Class::Auth);
    auth.addr = Some(Limit::per(2, 60));
    settings.rate_limits.set(Class::Auth, auth);
    t.core.settings = Arc::new(settings);
    let server = TestCore::spawn(&t.core, vec![tandem_auth::service(&t.core).await.expect("auth builds")]);
    let http = reqwest::Client::new();
    let refresh = |client: &'static str| {
        http.post(server.url("/v1/auth/refresh"))
            .header("x-forwarded-for", client)
            .json(&json!({"refresh_token": "nope"}))
            .send()
    };
    for _ in 0..2 {
        assert_eq!(refresh("203.0.113.1").await.unwrap().status(), 401);
    }
    assert_eq!(refresh("203.0.113.1").await.unwrap().status(), 429);
    // Another client behind the same proxy is not affected.
    assert_eq!(refresh("203.0.113.2").await.unwrap().status(), 401);
}
