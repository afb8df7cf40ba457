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

/// A TCP proxy to the test Redis that can be cut, to see what happens when Redis is gone.
struct CuttableRedis {
    url: String,
    tasks: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl CuttableRedis {
    async fn start() -> Self {
        let upstream = redis_url().trim_start_matches("redis://").split('/').next().unwrap().to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}", listener.local_addr().unwrap());
        let tasks = Arc::new(std::sync::Mutex::new(Vec::new()));
        let conns = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                conns.lock().unwrap().push(conn);
            }
        });
        tasks.lock().unwrap().push(accept);
        Self { url, tasks }
    }

    /// Stop accepting and drop every proxied connection.
    fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

#[tokio::test]
async fn without_redis_auth_fails_closed_before_any_work_and_ordinary_writes_fail_open() {
    let proxy = CuttableRedis::start().await;
    let mut t = TestCore::new().await;
    t.core.redis = RedisHandle::connect(&proxy.url, t.core.redis.prefix()).await.expect("redis through the proxy");
    let mut settings = (*t.core.settings).clone();
    settings.rate_limits = tandem_shared::rate_limit::RateLimits::default();
    t.core.settings = Arc::new(settings);
    let server = TestCore::spawn(&t.core, vec![tandem_auth::service(&t.core).await.expect("auth builds")]);
    proxy.cut();

    let res = reqwest::Client::new()
        .post(server.url("/v1/auth/signup"))
        .json(&json!({"email": "ann@example.com", "password": PASSWORD, "handle": "ann_x", "role": "fan"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "unavailable");
    let users: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&t.core.db).await.unwrap();
    assert_eq!(users, 0, "the refused signup did no work");

    // The same limiter lets an ordinary write through (its route needs Redis anyway).
    use tandem_shared::rate_limit::{RateLimiter, RateLimits, Verdict};
    let limiter = RateLimiter::new(t.core.redis.clone(), RateLimits::default());
    let user = Some(tandem_shared::ids::UserId::new());
    let addr = Some("127.0.0.1".parse().unwrap());
    assert_eq!(limiter.check(Class::Write, user, addr).await, Verdict::Allowed);
    assert_eq!(limiter.check(Class::Money, user, addr).await, Verdict::Unavailable);
}
