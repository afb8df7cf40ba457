use crate::helpers::{code_of, TestApp};
use serde_json::{json, Value};

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = TestApp::spawn().await;
    let first = app.signed_up("ann@example.com", "ann").await;
    let r1 = first["refresh_token"].as_str().unwrap().to_string();

    let res = app.refresh(&r1).await;
    assert_eq!(res.status(), 200);
    let second: Value = res.json().await.unwrap();
    let r2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    assert_eq!(app.me(second["access_token"].as_str().unwrap()).await.status(), 200);

    // The old token again: theft detected, whole family revoked.
    assert_eq!(code_of(app.refresh(&r1).await).await, (401, "refresh_token_reused".into()));
    // Even the newest token of the family no longer works.
    assert_eq!(code_of(app.refresh(&r2).await).await, (401, "invalid_refresh_token".into()));
}

#[tokio::test]
async fn other_logins_survive_a_revoked_family() {
    let app = TestApp::spawn().await;
    let a = app.signed_up("ann@example.com", "ann").await;
    let b: Value = app.login("ann@example.com", crate::helpers::PASSWORD).await.json().await.unwrap();
    let ra = a["refresh_token"].as_str().unwrap();
    app.refresh(ra).await;
    app.refresh(ra).await; // reuse: family A revoked
    assert_eq!(app.refresh(b["refresh_token"].as_str().unwrap()).await.status(), 200);
}

#[tokio::test]
async fn unknown_refresh_tokens_are_refused() {
    let app = TestApp::spawn().await;
    assert_eq!(code_of(app.refresh("not-a-token").await).await, (401, "invalid_refresh_token".into()));
    assert_eq!(code_of(app.refresh("").await).await, (401, "invalid_refresh_token".into()));
}

#[tokio::test]
async fn logout_revokes_refresh_and_access_tokens() {
    let app = TestApp::spawn().await;
    let s = app.signed_up("ann@example.com", "ann").await;
    let access = s["access_token"].as_str().unwrap();
    let refresh = s["refresh_token"].as_str().unwrap();
    let res = app
        .http
        .post(app.url("/v1/auth/logout"))
        .bearer_auth(access)
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(code_of(app.refresh(refresh).await).await.0, 401);
    assert_eq!(code_of(app.me(access).await).await, (401, "invalid_token".into()));
    // Idempotent.
    let again = app.post("/v1/auth/logout", json!({"refresh_token": refresh})).await;
    assert_eq!(again.status(), 204);
}

#[tokio::test]
async fn stored_refresh_tokens_are_hashes() {
    let app = TestApp::spawn().await;
    let s = app.signed_up("ann@example.com", "ann").await;
    let token = s["refresh_token"].as_str().unwrap();
    let stored: Vec<u8> =
        sqlx::query_scalar("select token_hash from refresh_tokens").fetch_one(&app.t.core.db).await.unwrap();
    assert_eq!(stored.len(), 32);
    assert!(!String::from_utf8_lossy(&stored).contains(token));
}

/// A revocation (reuse of an old token, and a logout) racing a rotation of the same family: the
/// rotation is slowed between inserting its successor and committing (a trigger on this test's
/// database sleeps after each insert), and both revocations start while it waits. The successor
/// must be revoked with the family; with only the token rows updated under READ COMMITTED, the
/// revocations would miss the uncommitted successor.
#[tokio::test]
async fn a_revocation_racing_a_rotation_revokes_the_successor_too() {
    let app = TestApp::spawn().await;
    let s = app.signed_up("ann@example.com", "ann").await;
    let r0 = s["refresh_token"].as_str().unwrap().to_string();
    let rotated: Value = app.refresh(&r0).await.json().await.unwrap();
    let r1 = rotated["refresh_token"].as_str().unwrap().to_string();
    // Another user's family rotates in parallel and must be untouched.
    let b = app.signed_up("bob@example.com", "bob").await;
    let b1 = b["refresh_token"].as_str().unwrap().to_string();

    sqlx::raw_sql(
        "create function slow_refresh_insert() returns trigger language plpgsql as
             $$ begin perform pg_sleep(0.6); return new; end $$;
         create trigger slow_refresh_insert after insert on refresh_tokens
             for each row execute function slow_refresh_insert();",
    )
    .execute(&app.t.core.db)
    .await
    .unwrap();

    let delayed = || tokio::time::sleep(std::time::Duration::from_millis(200));
    let (rotation, other, reuse, logout) = tokio::join!(
        app.refresh(&r1),
        app.refresh(&b1),
        async {
            delayed().await;
            app.refresh(&r0).await
        },
        async {
            delayed().await;
            app.post("/v1/auth/logout", json!({"refresh_token": r1})).await
        },
    );
    assert_eq!(code_of(reuse).await, (401, "refresh_token_reused".into()));
    assert_eq!(logout.status(), 204);
    assert_eq!(other.status(), 200, "another family rotates");
    if rotation.status() == 200 {
        let r2: Value = rotation.json().await.unwrap();
        let r2 = r2["refresh_token"].as_str().unwrap();
        assert_eq!(code_of(app.refresh(r2).await).await.0, 401, "the successor is revoked with its family");
    }
    let live: i64 = sqlx::query_scalar(
        "select count(*) from refresh_tokens t join users u on u.user_id = t.user_id
         where u.handle = 'ann' and t.revoked_at is null",
    )
    .fetch_one(&app.t.core.db)
    .await
    .unwrap();
    assert_eq!(live, 0, "no token of the revoked family is left unrevoked");
}

/// Redis restarts empty after a logout: the revoked access token is never accepted (503 while
/// auth refills the cache from PostgreSQL, 401 after), and other tokens work again.
#[tokio::test]
async fn a_revoked_access_token_stays_refused_after_redis_restarts_empty() {
    let app = TestApp::spawn().await;
    let s = app.signed_up("ann@example.com", "ann").await;
    let access = s["access_token"].as_str().unwrap().to_string();
    let other = app.signed_up("bob@example.com", "bob").await;
    let other_access = other["access_token"].as_str().unwrap().to_string();
    let res = app
        .http
        .post(app.url("/v1/auth/logout"))
        .bearer_auth(&access)
        .json(&json!({"refresh_token": s["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(code_of(app.me(&access).await).await, (401, "invalid_token".into()));

    // Every key of this deployment is gone, as after a Redis restart without persistence.
    let redis = &app.t.core.redis;
    let mut conn = redis.conn.clone();
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{}*", redis.prefix())).query_async(&mut conn).await.unwrap();
    assert!(!keys.is_empty());
    let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.unwrap();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let status = app.me(&access).await.status().as_u16();
        assert_ne!(status, 200, "a revoked token was accepted after Redis lost its revocation");
        if status == 401 {
            break;
        }
        assert_eq!(status, 503, "refused while the cache is refilled");
        assert!(std::time::Instant::now() < deadline, "the revocations were not refilled");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(app.me(&other_access).await.status(), 200, "valid tokens work once refilled");
}
