use crate::helpers::{code_of, TestApp, PASSWORD};

#[tokio::test]
async fn login_is_case_insensitive_on_email() {
    let app = TestApp::spawn().await;
    app.signed_up("Ann@Example.com", "ann").await;
    let res = app.login("ann@example.COM", PASSWORD).await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["user"]["handle"], "ann");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_the_same() {
    let app = TestApp::spawn().await;
    app.signed_up("ann@example.com", "ann").await;
    assert_eq!(
        code_of(app.login("ann@example.com", "wrong password!").await).await,
        (401, "invalid_credentials".into())
    );
    assert_eq!(code_of(app.login("nobody@example.com", PASSWORD).await).await, (401, "invalid_credentials".into()));
}

#[tokio::test]
async fn repeated_failures_are_throttled_and_success_resets() {
    let app = TestApp::spawn().await;
    app.signed_up("ann@example.com", "ann").await;
    for _ in 0..4 {
        assert_eq!(app.login("ann@example.com", "wrong password!").await.status(), 401);
    }
    // A success before the limit resets the counter.
    assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), 200);
    for _ in 0..5 {
        assert_eq!(app.login("ann@example.com", "wrong password!").await.status(), 401);
    }
    let res = app.login("ANN@example.com", PASSWORD).await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 15 * 60);
    assert_eq!(code_of(res).await.1, "too_many_attempts");
    // The counter key carries a TTL (nothing in Redis lives forever).
    let mut conn = app.t.core.redis.conn.clone();
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(app.t.core.redis.key("auth:login_fail:*")).query_async(&mut conn).await.unwrap();
    assert_eq!(keys.len(), 1);
    let ttl: i64 = redis::cmd("TTL").arg(&keys[0]).query_async(&mut conn).await.unwrap();
    assert!(ttl > 0);
}

#[tokio::test]
async fn parallel_wrong_passwords_check_at_most_the_limit() {
    let app = TestApp::spawn().await;
    app.signed_up("ann@example.com", "ann").await;
    // 401 means the password was hashed and checked; 429 means it was refused before hashing.
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..60 {
        let req = app
            .http
            .post(app.url("/v1/auth/login"))
            .json(&serde_json::json!({"email": "ann@example.com", "password": "wrong password!"}));
        attempts.spawn(async move { req.send().await.expect("request sent").status().as_u16() });
    }
    let statuses = attempts.join_all().await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, refused), (5, 55), "{statuses:?}");
    // Even the right password is refused now, without being checked.
    assert_eq!(code_of(app.login("ann@example.com", PASSWORD).await).await, (429, "too_many_attempts".into()));
}

#[tokio::test]
async fn forwarded_for_is_ignored_from_untrusted_peers() {
    let app = TestApp::spawn().await;
    app.signed_up("ann@example.com", "ann").await;
    for i in 0..5 {
        let res = app.login_via("ann@example.com", "wrong password!", &format!("198.51.100.{i}")).await;
        assert_eq!(res.status(), 401);
    }
    // A fresh forwarded address does not buy more attempts.
    let res = app.login_via("ann@example.com", "wrong password!", "198.51.100.99").await;
    assert_eq!(code_of(res).await, (429, "too_many_attempts".into()));
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_throttled_alone() {
    let app = TestApp::spawn_trusting("127.0.0.1/32, ::1").await;
    app.signed_up("ann@example.com", "ann").await;
    for _ in 0..5 {
        // The left entry is the client's own claim; the proxy appended the real address.
        assert_eq!(app.login_via("ann@example.com", "wrong password!", "10.9.9.9, 203.0.113.5").await.status(), 401);
    }
    let res = app.login_via("ann@example.com", PASSWORD, "10.9.9.8, 203.0.113.5").await;
    assert_eq!(code_of(res).await, (429, "too_many_attempts".into()));
    // Another client behind the same proxy is not locked out.
    assert_eq!(app.login_via("ann@example.com", PASSWORD, "203.0.113.6").await.status(), 200);
}
