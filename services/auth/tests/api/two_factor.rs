use crate::helpers::{code_of, TestApp, PASSWORD};
use serde_json::{json, Value};
use tandem_auth::totp;

/// The code of `secret` (base32) `offset` steps from now.
fn code(secret: &str, offset: i64) -> String {
    let raw = totp::base32_decode(secret).expect("base32");
    let step = totp::step_of(chrono::Utc::now().timestamp()) as i64 + offset;
    format!("{:06}", totp::code_at(&raw, step as u64))
}

/// Sign up, enrol and confirm; the secret, the recovery codes and the confirm answer.
async fn enrolled(app: &TestApp, email: &str, handle: &str) -> (String, Vec<String>, Value) {
    // Codes are computed per 30-second step: keep a test's steps from rolling over under it.
    let into_step = chrono::Utc::now().timestamp() % totp::STEP_SECS;
    if into_step >= 22 {
        tokio::time::sleep(std::time::Duration::from_secs((totp::STEP_SECS - into_step + 1) as u64)).await;
    }
    let s = app.signed_up(email, handle).await;
    let access = s["access_token"].as_str().unwrap();
    let res = app.post_as("/v1/auth/2fa/totp", access, json!({})).await;
    assert_eq!(res.status(), 201);
    let e: Value = res.json().await.unwrap();
    let secret = e["secret"].as_str().unwrap().to_string();
    let uri = e["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Tandem:") && uri.contains(&format!("secret={secret}")), "{uri}");
    let wrong = app.post_as("/v1/auth/2fa/totp/confirm", access, json!({"code": "000000"})).await;
    assert_eq!(code_of(wrong).await, (400, "invalid_code".into()));
    let res = app.post_as("/v1/auth/2fa/totp/confirm", access, json!({"code": code(&secret, 0)})).await;
    assert_eq!(res.status(), 200);
    let confirmed: Value = res.json().await.unwrap();
    let codes: Vec<String> =
        confirmed["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    assert_eq!(codes.len(), 10);
    assert!(app.claims(confirmed["access_token"].as_str().unwrap()).mfa, "this session now counts as mfa");
    (secret, codes, confirmed)
}

async fn login_totp(app: &TestApp, email: &str, totp: Option<&str>) -> reqwest::Response {
    let mut body = json!({"email": email, "password": PASSWORD});
    if let Some(t) = totp {
        body["totp"] = json!(t);
    }
    app.post("/v1/auth/login", body).await
}

#[tokio::test]
async fn with_totp_on_sign_in_needs_a_fresh_code_and_refuses_replays() {
    let app = TestApp::spawn().await;
    let (secret, _, _) = enrolled(&app, "ann@example.com", "ann").await;
    assert_eq!(code_of(login_totp(&app, "ann@example.com", None).await).await, (401, "totp_required".into()));
    // The code that confirmed enrolment was used for its step: a replay is refused.
    let replay = login_totp(&app, "ann@example.com", Some(&code(&secret, 0))).await;
    assert_eq!(code_of(replay).await, (401, "invalid_totp".into()));
    // The next step's code (within the one-step drift window) works once.
    let next = code(&secret, 1);
    let ok = login_totp(&app, "ann@example.com", Some(&next)).await;
    assert_eq!(ok.status(), 200);
    let s: Value = ok.json().await.unwrap();
    assert!(app.claims(s["access_token"].as_str().unwrap()).mfa);
    assert_eq!(s["user"]["totp_enabled"], true);
    let again = login_totp(&app, "ann@example.com", Some(&next)).await;
    assert_eq!(code_of(again).await, (401, "invalid_totp".into()));
    // A wrong password with a good code is still a wrong password.
    let res = app
        .post("/v1/auth/login", json!({"email": "ann@example.com", "password": "wrong password!", "totp": "123456"}))
        .await;
    assert_eq!(code_of(res).await, (401, "invalid_credentials".into()));
    // A refreshed token of an mfa session keeps mfa.
    let r: Value = app.refresh(s["refresh_token"].as_str().unwrap()).await.json().await.unwrap();
    assert!(app.claims(r["access_token"].as_str().unwrap()).mfa);
}

#[tokio::test]
async fn recovery_codes_sign_in_once_each() {
    let app = TestApp::spawn().await;
    let (_, codes, _) = enrolled(&app, "bo@example.com", "bob").await;
    let res = login_totp(&app, "bo@example.com", Some(&codes[3].to_uppercase())).await;
    assert_eq!(res.status(), 200);
    let res = login_totp(&app, "bo@example.com", Some(&codes[3])).await;
    assert_eq!(code_of(res).await, (401, "invalid_totp".into()));
    assert_eq!(login_totp(&app, "bo@example.com", Some(&codes[4])).await.status(), 200);
    let res = login_totp(&app, "bo@example.com", Some("aaaa-bbbb-cccc-dddd")).await;
    assert_eq!(code_of(res).await, (401, "invalid_totp".into()));
}

#[tokio::test]
async fn enrolment_is_refused_twice_and_disable_needs_password_and_code() {
    let app = TestApp::spawn().await;
    let (secret, codes, confirmed) = enrolled(&app, "cy@example.com", "cyd").await;
    let access = confirmed["access_token"].as_str().unwrap();
    let res = app.post_as("/v1/auth/2fa/totp", access, json!({})).await;
    assert_eq!(code_of(res).await, (409, "totp_already_enabled".into()));
    let other: Value = login_totp(&app, "cy@example.com", Some(&codes[0])).await.json().await.unwrap();

    let res = app
        .post_as("/v1/auth/2fa/totp/disable", access, json!({"password": "not the password", "code": code(&secret, 1)}))
        .await;
    assert_eq!(code_of(res).await, (400, "invalid_password".into()));
    let res = app.post_as("/v1/auth/2fa/totp/disable", access, json!({"password": PASSWORD, "code": "000000"})).await;
    assert_eq!(code_of(res).await, (400, "invalid_code".into()));
    let res = app.post_as("/v1/auth/2fa/totp/disable", access, json!({"password": PASSWORD, "code": codes[1]})).await;
    assert_eq!(res.status(), 200);
    let fresh: Value = res.json().await.unwrap();
    assert!(!app.claims(fresh["access_token"].as_str().unwrap()).mfa, "the new session has no second factor");
    // Every earlier session (whose tokens said mfa) is signed out.
    assert_eq!(code_of(app.me(other["access_token"].as_str().unwrap()).await).await.0, 401);
    assert_eq!(code_of(app.refresh(other["refresh_token"].as_str().unwrap()).await).await.0, 401);
    assert_eq!(code_of(app.me(access).await).await.0, 401);
    assert_eq!(app.me(fresh["access_token"].as_str().unwrap()).await.status(), 200);
    // Sign-in needs no code any more; disabling again is a conflict.
    assert_eq!(login_totp(&app, "cy@example.com", None).await.status(), 200);
    let res = app
        .post_as(
            "/v1/auth/2fa/totp/disable",
            fresh["access_token"].as_str().unwrap(),
            json!({"password": PASSWORD, "code": "123456"}),
        )
        .await;
    assert_eq!(code_of(res).await, (409, "totp_not_enrolled".into()));
}

#[tokio::test]
async fn secrets_are_sealed_at_rest_when_a_key_is_configured() {
    let app = TestApp::spawn_with("", None, |a| a.totp_key = Some([9u8; 32])).await;
    let (secret, _, _) = enrolled(&app, "di@example.com", "dil").await;
    let (stored, sealed): (Vec<u8>, bool) =
        sqlx::query_as("select secret, sealed from totp_credentials").fetch_one(&app.t.core.db).await.unwrap();
    assert!(sealed);
    assert_ne!(stored, totp::base32_decode(&secret).unwrap());
    assert_eq!(login_totp(&app, "di@example.com", Some(&code(&secret, 1))).await.status(), 200);
    let n: i64 = sqlx::query_scalar("select count(*) from totp_recovery_codes where used_at is null")
        .fetch_one(&app.t.core.db)
        .await
        .unwrap();
    assert_eq!(n, 10);
}
