//! Forged access tokens are refused by `/v1/me` with 401.

use crate::helpers::{code_of, TestApp};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

async fn user_claims(app: &TestApp) -> (String, Value) {
    let s = app.signed_up("ann@example.com", "ann").await;
    let token = s["access_token"].as_str().unwrap().to_string();
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    (token, claims)
}

async fn assert_refused(app: &TestApp, token: &str, code: &str) {
    assert_eq!(code_of(app.me(token).await).await, (401, code.to_string()), "{token}");
}

#[tokio::test]
async fn a_genuine_token_is_accepted() {
    let app = TestApp::spawn().await;
    let (token, _) = user_claims(&app).await;
    assert_eq!(app.me(&token).await.status(), 200);
}

#[tokio::test]
async fn missing_or_garbage_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let res = app.http.get(app.url("/v1/me")).send().await.unwrap();
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    assert_eq!(code_of(res).await, (401, "unauthenticated".into()));
    assert_refused(&app, "garbage", "invalid_token").await;
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let (_, mut claims) = user_claims(&app).await;
    let now = chrono::Utc::now().timestamp();
    claims["iat"] = json!(now - 3600);
    claims["exp"] = json!(now - 1800);
    let token = app.t.core.tokens.sign_raw(&claims).unwrap();
    assert_refused(&app, &token, "token_expired").await;
}

#[tokio::test]
async fn alg_none_is_refused() {
    let app = TestApp::spawn().await;
    let (_, claims) = user_claims(&app).await;
    for alg in ["none", "None", "NONE"] {
        let token = format!("{}.{}.", b64(&json!({"alg": alg, "typ": "JWT"})), b64(&claims));
        assert_refused(&app, &token, "invalid_token").await;
    }
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let app = TestApp::spawn().await;
    let (_, claims) = user_claims(&app).await;
    let public = app.t.core.tokens.public_key_bytes();
    let jwks: Value = app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    let x = jwks["keys"][0]["x"].as_str().unwrap().to_string();
    for secret in [public.to_vec(), x.into_bytes()] {
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&secret)).unwrap();
        assert_refused(&app, &token, "invalid_token").await;
    }
}

#[tokio::test]
async fn wrong_audience_or_issuer_is_refused() {
    let app = TestApp::spawn().await;
    let (_, claims) = user_claims(&app).await;
    let mut aud = claims.clone();
    aud["aud"] = json!("someone-else");
    assert_refused(&app, &app.t.core.tokens.sign_raw(&aud).unwrap(), "invalid_token").await;
    let mut iss = claims.clone();
    iss["iss"] = json!("evil");
    assert_refused(&app, &app.t.core.tokens.sign_raw(&iss).unwrap(), "invalid_token").await;
}

#[tokio::test]
async fn tampered_payload_is_refused() {
    let app = TestApp::spawn().await;
    let (token, mut claims) = user_claims(&app).await;
    claims["role"] = json!("operator");
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    assert_refused(&app, &forged, "invalid_token").await;
}

#[tokio::test]
async fn a_token_from_another_key_is_refused() {
    let app = TestApp::spawn().await;
    let (_, claims) = user_claims(&app).await;
    let other = tandem_shared::jwt::Tokens::new(tandem_shared::jwt::KeyPair::generate(), "tandem", "tandem");
    assert_refused(&app, &other.sign_raw(&claims).unwrap(), "invalid_token").await;
}

#[tokio::test]
async fn jwks_publishes_the_ed25519_key() {
    let app = TestApp::spawn().await;
    let jwks: Value = app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    let (token, _) = user_claims(&app).await;
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    // The published key alone verifies the token.
    let decoding = jsonwebtoken::DecodingKey::from_ed_components(key["x"].as_str().unwrap()).unwrap();
    let mut v = jsonwebtoken::Validation::new(Algorithm::EdDSA);
    v.set_audience(&["tandem"]);
    assert!(jsonwebtoken::decode::<Value>(&token, &decoding, &v).is_ok());
}
