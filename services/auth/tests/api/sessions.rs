use crate::helpers::{code_of, TestApp, PASSWORD};
use serde_json::{json, Value};

async fn login_as(app: &TestApp, agent: &str) -> Value {
    let res = app
        .http
        .post(app.url("/v1/auth/login"))
        .header("user-agent", agent)
        .json(&json!({"email": "ann@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn sessions_are_listed_and_revoked_one_by_one_or_all_at_once() {
    let app = TestApp::spawn().await;
    app.signed_up("ann@example.com", "ann").await;
    let phone = login_as(&app, "Phone/1.0").await;
    let laptop = login_as(&app, "Laptop/2.0").await;
    let phone_access = phone["access_token"].as_str().unwrap();

    let list: Value = app.get_as("/v1/auth/sessions", phone_access).await.json().await.unwrap();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3, "{list}");
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["user_agent"], "Phone/1.0");
    assert_eq!(current[0]["client_address"], "127.0.0.1");
    assert!(current[0]["created_at"].is_string() && current[0]["last_used_at"].is_string());
    let laptop_id = sessions.iter().find(|s| s["user_agent"] == "Laptop/2.0").unwrap()["session_id"].as_str().unwrap();

    // Another account cannot revoke it.
    let other = app.signed_up("bea@example.com", "bea").await;
    let res = app.delete_as(&format!("/v1/auth/sessions/{laptop_id}"), other["access_token"].as_str().unwrap()).await;
    assert_eq!(code_of(res).await, (404, "not_found".into()));

    let res = app.delete_as(&format!("/v1/auth/sessions/{laptop_id}"), phone_access).await;
    assert_eq!(res.status(), 204);
    assert_eq!(code_of(app.refresh(laptop["refresh_token"].as_str().unwrap()).await).await.0, 401);
    assert_eq!(code_of(app.me(laptop["access_token"].as_str().unwrap()).await).await, (401, "invalid_token".into()));
    assert_eq!(app.me(phone_access).await.status(), 200);
    let res = app.delete_as(&format!("/v1/auth/sessions/{laptop_id}"), phone_access).await;
    assert_eq!(res.status(), 404, "already revoked");

    // Refreshing records the last use.
    let r: Value = app.refresh(phone["refresh_token"].as_str().unwrap()).await.json().await.unwrap();
    let list: Value = app.get_as("/v1/auth/sessions", r["access_token"].as_str().unwrap()).await.json().await.unwrap();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 2);

    // Sign out everywhere.
    assert_eq!(app.delete_as("/v1/auth/sessions", r["access_token"].as_str().unwrap()).await.status(), 204);
    assert_eq!(code_of(app.me(r["access_token"].as_str().unwrap()).await).await.0, 401);
    assert_eq!(code_of(app.refresh(r["refresh_token"].as_str().unwrap()).await).await.0, 401);
    let fresh: Value = app.login("ann@example.com", PASSWORD).await.json().await.unwrap();
    let list: Value =
        app.get_as("/v1/auth/sessions", fresh["access_token"].as_str().unwrap()).await.json().await.unwrap();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn session_revocations_survive_a_redis_cache_refill() {
    let app = TestApp::spawn().await;
    let a = app.signed_up("cy@example.com", "cyd").await;
    let b: Value = app.login("cy@example.com", PASSWORD).await.json().await.unwrap();
    let list: Value = app.get_as("/v1/auth/sessions", a["access_token"].as_str().unwrap()).await.json().await.unwrap();
    let b_id = list["sessions"].as_array().unwrap().iter().find(|s| s["current"] == false).unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        app.delete_as(&format!("/v1/auth/sessions/{b_id}"), a["access_token"].as_str().unwrap()).await.status(),
        204
    );
    // Redis forgets the revocation; auth's reload restores it from PostgreSQL.
    let mut c = app.t.core.redis.conn.clone();
    let key = app.t.core.redis.key(format_args!("auth:revoked_family:{b_id}"));
    redis::AsyncCommands::del::<_, ()>(&mut c, &key).await.unwrap();
    assert_eq!(app.me(b["access_token"].as_str().unwrap()).await.status(), 200, "the cache alone decides per request");
    tandem_auth::revocations::reload(&app.t.core).await.unwrap();
    assert_eq!(code_of(app.me(b["access_token"].as_str().unwrap()).await).await.0, 401);
}
