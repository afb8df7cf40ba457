use crate::helpers::{code_of, TestApp, PASSWORD};
use serde_json::json;

#[tokio::test]
async fn signup_returns_tokens_and_me_shows_the_user() {
    let app = TestApp::spawn().await;
    let body = app.signed_up("ann@example.com", "ann").await;
    assert_eq!(body["user"]["handle"], "ann");
    assert_eq!(body["user"]["role"], "fan");
    assert_eq!(body["expires_in"], 900);
    let me = app.me(body["access_token"].as_str().unwrap()).await;
    assert_eq!(me.status(), 200);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["email"], "ann@example.com");
    assert!(me.get("password_hash").is_none());
}

#[tokio::test]
async fn duplicate_email_in_another_case_is_a_conflict() {
    let app = TestApp::spawn().await;
    app.signed_up("Ann@Example.com", "ann").await;
    assert_eq!(code_of(app.signup("ann@EXAMPLE.COM", "ann2", "fan").await).await, (409, "email_taken".into()));
    assert_eq!(code_of(app.signup("bob@example.com", "ann", "fan").await).await, (409, "handle_taken".into()));
    let count: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&app.t.core.db).await.unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn invalid_input_is_a_400_with_a_code() {
    let app = TestApp::spawn().await;
    let cases = [
        json!({"email": "nope", "password": PASSWORD, "handle": "ann", "role": "fan"}),
        json!({"email": "a@b.c", "password": "short", "handle": "ann", "role": "fan"}),
        json!({"email": "a@b.c", "password": "x".repeat(129), "handle": "ann", "role": "fan"}),
        json!({"email": "a@b.c", "password": PASSWORD, "handle": "Ann", "role": "fan"}),
        json!({"email": "a@b.c", "password": PASSWORD, "handle": "an", "role": "fan"}),
        json!({"email": "a@b.c", "password": PASSWORD, "handle": "ann", "role": "operator"}),
    ];
    for body in cases {
        let (status, code) = code_of(app.post("/v1/auth/signup", body.clone()).await).await;
        assert_eq!((status, code.as_str()), (400, "invalid_input"), "{body}");
    }
    let missing = app.post("/v1/auth/signup", json!({"email": "a@b.c"})).await;
    assert_eq!(code_of(missing).await, (400, "invalid_json".into()));
}

#[tokio::test]
async fn malformed_and_oversized_bodies_are_refused_cleanly() {
    let app = TestApp::spawn().await;
    let res = app
        .http
        .post(app.url("/v1/auth/signup"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(res).await, (400, "invalid_json".into()));
    let huge = format!("{{\"email\": \"{}\"}}", "a".repeat(200_000));
    let res = app
        .http
        .post(app.url("/v1/auth/signup"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(res).await, (413, "payload_too_large".into()));
    let res = app.http.post(app.url("/v1/auth/signup")).body("email=a").send().await.unwrap();
    assert_eq!(code_of(res).await, (415, "unsupported_media_type".into()));
}

#[tokio::test]
async fn sql_looking_input_is_stored_verbatim() {
    let app = TestApp::spawn().await;
    let email = "robert');drop/**/table/**/users;--@example.com";
    let body = app.signed_up(email, "bobby_tables").await;
    assert_eq!(body["user"]["email"], email);
    let stored: String = sqlx::query_scalar("select email from users").fetch_one(&app.t.core.db).await.unwrap();
    assert_eq!(stored, email);
    assert_eq!(app.login(email, PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_hashes() {
    let app = TestApp::spawn().await;
    app.signed_up("ann@example.com", "ann").await;
    let hash: String = sqlx::query_scalar("select password_hash from users").fetch_one(&app.t.core.db).await.unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(PASSWORD));
}

#[tokio::test]
async fn health_and_metrics_are_served() {
    let app = TestApp::spawn().await;
    assert_eq!(app.http.get(app.url("/healthz")).send().await.unwrap().status(), 200);
    let ready: serde_json::Value = app.http.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    app.signed_up("ann@example.com", "ann").await;
    let res = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 401, "/metrics needs the metrics token");
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(tandem_shared::testing::METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("http_requests_total{method=\"POST\",route=\"/v1/auth/signup\",status=\"201\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("http_request_duration_seconds_bucket"));
    assert!(metrics.contains("process_resident_memory_bytes"));
    let (status, code) = code_of(app.http.get(app.url("/v1/nope")).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
}

#[tokio::test]
async fn readyz_is_503_while_draining() {
    let app = TestApp::spawn().await;
    app.t.core.draining.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(app.http.get(app.url("/readyz")).send().await.unwrap().status(), 503);
}
