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
