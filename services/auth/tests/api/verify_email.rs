use crate::helpers::{code_of, TestApp, PUBLIC_URL};
use serde_json::{json, Value};
use tandem_shared::rate_limit::{Class, ClassLimits, FailMode, Limit, RateLimits};

#[tokio::test]
async fn signup_mails_a_single_use_link_that_verifies_the_email() {
    let app = TestApp::spawn().await;
    let s = app.signed_up("ann@example.com", "ann").await;
    assert_eq!(s["user"]["email_verified"], false);
    let access = s["access_token"].as_str().unwrap();
    assert!(!app.claims(access).email_verified, "the access token says unverified");

    let mail = app.smtp.wait_for("ann@example.com", 1).await.remove(0);
    assert!(mail.data.contains("text/plain") && mail.data.contains("text/html"), "{}", mail.data);
    assert!(mail.decoded().contains(&format!("{PUBLIC_URL}/verify.html#token=")), "{}", mail.decoded());
    let token = mail.token("/verify.html");
    assert!(token.len() >= 40);
    // Only the hash is stored.
    let stored: i64 = sqlx::query_scalar("select count(*) from email_tokens where token_hash = $1::bytea")
        .bind(token.as_bytes())
        .fetch_one(&app.t.core.db)
        .await
        .unwrap();
    assert_eq!(stored, 0);

    let res = app.post("/v1/auth/verify-email", json!({"token": token})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["email_verified"], true);
    // Single use.
    let again = app.post("/v1/auth/verify-email", json!({"token": token})).await;
    assert_eq!(code_of(again).await, (400, "invalid_email_token".into()));
    assert_eq!(app.me(access).await.json::<Value>().await.unwrap()["email_verified"], true);
    // A refreshed access token says verified.
    let refreshed: Value = app.refresh(s["refresh_token"].as_str().unwrap()).await.json().await.unwrap();
    assert!(app.claims(refreshed["access_token"].as_str().unwrap()).email_verified);
}

#[tokio::test]
async fn unknown_and_expired_verification_tokens_are_refused() {
    let app = TestApp::spawn().await;
    app.signed_up("bea@example.com", "bea").await;
    let token = app.smtp.wait_for("bea@example.com", 1).await[0].token("/verify.html");
    for bad in ["", "nope", &"x".repeat(300)] {
        let res = app.post("/v1/auth/verify-email", json!({"token": bad})).await;
        assert_eq!(code_of(res).await, (400, "invalid_email_token".into()), "{bad}");
    }
    sqlx::query("update email_tokens set expires_at = now() - interval '1 second'")
        .execute(&app.t.core.db)
        .await
        .unwrap();
    let res = app.post("/v1/auth/verify-email", json!({"token": token})).await;
    assert_eq!(code_of(res).await, (400, "invalid_email_token".into()));
}

#[tokio::test]
async fn resend_is_rate_limited_and_refused_once_verified() {
    let mut limits = RateLimits::off();
    limits.set(Class::Mail, ClassLimits { user: Some(Limit::per(2, 3600)), addr: None, fail: FailMode::Closed });
    let app = TestApp::spawn_with("", Some(limits), |_| {}).await;
    let s = app.signed_up("cat@example.com", "cat").await;
    let access = s["access_token"].as_str().unwrap();
    for _ in 0..2 {
        let res = app.post_as("/v1/auth/verify-email/resend", access, json!({})).await;
        assert_eq!(res.status(), 202);
    }
    let limited = app.post_as("/v1/auth/verify-email/resend", access, json!({})).await;
    assert!(limited.headers().get("retry-after").is_some());
    assert_eq!(code_of(limited).await, (429, "rate_limited".into()));
    // Signup's message and the two resends arrived; any of the links works.
    let mails = app.smtp.wait_for("cat@example.com", 3).await;
    let res = app.post("/v1/auth/verify-email", json!({"token": mails[2].token("/verify.html")})).await;
    assert_eq!(res.status(), 200);
    // Unauthenticated resends are refused.
    assert_eq!(app.post("/v1/auth/verify-email/resend", json!({})).await.status(), 401);
}

#[tokio::test]
async fn resend_for_a_verified_account_is_a_conflict() {
    let app = TestApp::spawn_with("", None, |a| a.dev_verified_signups = true).await;
    let s = app.signed_up("dee@example.com", "dee").await;
    assert_eq!(s["user"]["email_verified"], true);
    assert!(app.claims(s["access_token"].as_str().unwrap()).email_verified);
    let res = app.post_as("/v1/auth/verify-email/resend", s["access_token"].as_str().unwrap(), json!({})).await;
    assert_eq!(code_of(res).await, (409, "already_verified".into()));
    // No message was sent to a dev-verified signup.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(app.smtp.to("dee@example.com").is_empty());
}
