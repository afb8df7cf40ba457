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
