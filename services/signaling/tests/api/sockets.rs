//! Sockets end with their access token (logout, expiry), and one user's sockets are capped.

use crate::helpers::{Client, Cluster, DEADLINE};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;
use tandem_shared::ids::Role;
use tandem_shared::testing::TestCore;
use tokio_tungstenite::tungstenite::{Error, Message};

/// Wait for the server's close frame and return its code.
async fn close_code(c: &mut Client) -> u16 {
    loop {
        match tokio::time::timeout(DEADLINE, c.ws.next()).await.expect("closed before the deadline") {
            Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// The auth service beside a cluster, for tests that sign in, refresh and log out for real.
struct Auth {
    server: tandem_shared::testing::TestServer,
    http: reqwest::Client,
}

impl Auth {
    async fn start(c: &Cluster) -> Self {
        let auth = tandem_auth::service(&c.t.core).await.expect("auth builds");
        Self { server: TestCore::spawn(&c.t.core, vec![auth]), http: reqwest::Client::new() }
    }

    /// POST `body` to `path` (with `bearer`, if any); the status and the JSON reply (null if none).
    async fn post(&self, path: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.http.post(self.server.url(path)).json(&body);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let res = req.send().await.expect("auth answers");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn signup(&self, handle: &str) -> Value {
        let body = json!({"email": format!("{handle}@example.com"), "password": "correct horse battery",
                          "handle": handle, "role": "fan"});
        self.post("/v1/auth/signup", None, body).await.1
    }
}

/// The socket still answers requests.
async fn assert_open(c: &mut Client) {
    c.ok(json!({"type": "leave"})).await;
}

#[tokio::test]
async fn logout_closes_the_sockets_of_its_token_on_every_node() {
    let c = Cluster::new().await;
    let auth = Auth::start(&c).await;
    let session = auth.signup("ann").await;
    let access = session["access_token"].as_str().unwrap();
    let login = json!({"email": "ann@example.com", "password": "correct horse battery"});
    let (_, other) = auth.post("/v1/auth/login", None, login).await;
    let mut on_a = Client::connect(&c.a.ws_url(access, "")).await;
    let mut on_b = Client::connect(&c.b.ws_url(access, "")).await;
    let mut other_device = Client::connect(&c.b.ws_url(other["access_token"].as_str().unwrap(), "")).await;

    let (status, _) =
        auth.post("/v1/auth/logout", Some(access), json!({"refresh_token": session["refresh_token"]})).await;
    assert_eq!(status, 204);
    assert_eq!(close_code(&mut on_a).await, 4403);
    assert_eq!(close_code(&mut on_b).await, 4403);
    // The same user's socket opened with another token stays.
    assert_open(&mut other_device).await;
    // And the revoked token cannot open a new one.
    match tokio_tungstenite::connect_async(c.a.ws_url(access, "")).await {
        Err(Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 401),
        other => panic!("a revoked token was upgraded: {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn a_socket_is_closed_when_its_token_expires() {
    let c = Cluster::new().await;
    let u = c.t.user(Role::Fan).await;
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": u.id, "role": "fan", "iss": "tandem", "aud": "tandem", "iat": now, "exp": now + 2,
                        "jti": uuid::Uuid::new_v4()});
    let short = c.t.core.tokens.sign_raw(&claims).unwrap();
    let mut expiring = Client::connect(&c.a.ws_url(&short, "")).await;
    let mut lasting = Client::connect(&c.a.ws_url(&u.token, "")).await;
    assert_eq!(close_code(&mut expiring).await, 4401);
    assert_open(&mut lasting).await;
}

#[tokio::test]
async fn the_eleventh_socket_of_one_user_is_refused_across_nodes() {
    let c = Cluster::new().await;
    let (_, token) = c.user(Role::Fan).await;
    let mut open = Vec::new();
    for i in 0..10 {
        let node = if i % 2 == 0 { &c.a } else { &c.b };
        open.push(Client::connect(&node.ws_url(&token, "")).await);
    }
    for node in [&c.a, &c.b] {
        match tokio_tungstenite::connect_async(node.ws_url(&token, "")).await {
            Err(Error::Http(resp)) => {
                assert_eq!(resp.status().as_u16(), 429);
                let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap_or_default()).unwrap();
                assert_eq!(body["code"], "too_many_sockets");
            }
            other => panic!("an 11th socket was upgraded: {:?}", other.map(|_| ())),
        }
    }
    for c in open.iter_mut() {
        assert_open(c).await;
    }
    // Another user is not affected, and a closed socket frees its place.
    let (_, other) = c.user(Role::Fan).await;
    Client::connect(&c.a.ws_url(&other, "")).await;
    let mut first = open.remove(0);
    first.ws.close(None).await.unwrap();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if tokio_tungstenite::connect_async(c.b.ws_url(&token, "")).await.is_ok() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the closed socket's place was not released");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_socket_renewed_with_a_fresh_token_outlives_its_first_one() {
    let c = Cluster::new().await;
    let u = c.t.user(Role::Fan).await;
    let other = c.t.user(Role::Fan).await;
    let now = chrono::Utc::now().timestamp();
    let mint = |sub: tandem_shared::ids::UserId, exp: i64| {
        let claims = json!({"sub": sub, "role": "fan", "iss": "tandem", "aud": "tandem", "iat": now, "exp": exp,
                            "jti": uuid::Uuid::new_v4()});
        c.t.core.tokens.sign_raw(&claims).unwrap()
    };
    let mut s = Client::connect(&c.a.ws_url(&mint(u.id, now + 3), "")).await;
    // Not a token, another user's, already expired: refused, and the socket keeps its old token.
    let r = s.request(json!({"type": "auth", "token": "not-a-token"})).await;
    assert_eq!(r["code"], "invalid_token", "{r}");
    let r = s.request(json!({"type": "auth", "token": mint(other.id, now + 600)})).await;
    assert_eq!(r["code"], "invalid_token", "{r}");
    let r = s.request(json!({"type": "auth", "token": mint(u.id, now - 120)})).await;
    assert_eq!(r["code"], "token_expired", "{r}");
    // A fresh token of the same user: the socket stays open past the first token's expiry.
    let fresh = mint(u.id, now + 600);
    let r = s.request(json!({"type": "auth", "token": fresh})).await;
    assert_eq!(r["type"], "ack", "{r}");
    assert_eq!(r["data"]["expires_at"], now + 600, "{r}");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_open(&mut s).await;
}

#[tokio::test]
async fn logout_with_the_renewed_token_closes_the_socket() {
    let c = Cluster::new().await;
    let auth = Auth::start(&c).await;
    let first = auth.signup("rae").await;
    let mut s = Client::connect(&c.b.ws_url(first["access_token"].as_str().unwrap(), "")).await;
    let (_, renewed) = auth.post("/v1/auth/refresh", None, json!({"refresh_token": first["refresh_token"]})).await;
    let access = renewed["access_token"].as_str().unwrap();
    let r = s.request(json!({"type": "auth", "token": access})).await;
    assert_eq!(r["type"], "ack", "{r}");
    let (status, _) =
        auth.post("/v1/auth/logout", Some(access), json!({"refresh_token": renewed["refresh_token"]})).await;
    assert_eq!(status, 204);
    assert_eq!(close_code(&mut s).await, 4403);
}

impl Auth {
    /// DELETE `path` with `bearer`; the status.
    async fn delete(&self, path: &str, bearer: &str) -> u16 {
        let res = self.http.delete(self.server.url(path)).bearer_auth(bearer).send().await.expect("auth answers");
        res.status().as_u16()
    }

    /// GET `/v1/auth/sessions` with `bearer`.
    async fn sessions(&self, bearer: &str) -> Value {
        let res =
            self.http.get(self.server.url("/v1/auth/sessions")).bearer_auth(bearer).send().await.expect("auth answers");
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }
}

#[tokio::test]
async fn revoking_a_session_closes_its_sockets_and_signing_out_everywhere_the_rest() {
    let c = Cluster::new().await;
    let auth = Auth::start(&c).await;
    let phone = auth.signup("sal").await;
    let login = json!({"email": "sal@example.com", "password": "correct horse battery"});
    let (_, laptop) = auth.post("/v1/auth/login", None, login).await;
    let (phone_access, laptop_access) =
        (phone["access_token"].as_str().unwrap(), laptop["access_token"].as_str().unwrap());
    let mut on_phone = Client::connect(&c.a.ws_url(phone_access, "")).await;
    let mut on_laptop_a = Client::connect(&c.a.ws_url(laptop_access, "")).await;
    // A laptop socket opened with the laptop's first token and renewed in-band with its next one.
    let mut on_laptop_b = Client::connect(&c.b.ws_url(laptop_access, "")).await;
    let (_, renewed) = auth.post("/v1/auth/refresh", None, json!({"refresh_token": laptop["refresh_token"]})).await;
    let r = on_laptop_b.request(json!({"type": "auth", "token": renewed["access_token"]})).await;
    assert_eq!(r["type"], "ack", "{r}");

    // The phone signs the laptop out.
    let list = auth.sessions(phone_access).await;
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{list}");
    let laptop_id =
        sessions.iter().find(|s| s["current"] == false).unwrap()["session_id"].as_str().unwrap().to_string();
    assert_eq!(auth.delete(&format!("/v1/auth/sessions/{laptop_id}"), phone_access).await, 204);
    assert_eq!(close_code(&mut on_laptop_a).await, 4403);
    assert_eq!(close_code(&mut on_laptop_b).await, 4403);
    assert_open(&mut on_phone).await;
    // The laptop's access tokens are refused at once, not at expiry.
    let me = auth.http.get(auth.server.url("/v1/me")).bearer_auth(laptop_access).send().await.unwrap();
    assert_eq!(me.status(), 401);

    // Sign out everywhere: the phone's own socket closes too.
    assert_eq!(auth.delete("/v1/auth/sessions", phone_access).await, 204);
    assert_eq!(close_code(&mut on_phone).await, 4403);
}

#[tokio::test]
async fn an_unverified_account_cannot_tip_until_its_socket_renews_with_a_verified_token() {
    let c = Cluster::new().await;
    let (host, host_token) = c.user(Role::Creator).await;
    let (fan, _) = c.user(Role::Fan).await;
    let room = c.room("broadcast", host, None).await;
    let grants = |email_verified| tandem_shared::jwt::Grants { family: None, mfa: false, email_verified };
    let (unverified, _) = c.t.core.tokens.issue_with(fan, Role::Fan, grants(false)).unwrap();
    let mut h = Client::connect(&c.a.ws_url(&host_token, "")).await;
    let mut f = Client::connect(&c.b.ws_url(&unverified, "")).await;
    h.join(room).await;
    f.join(room).await;
    f.refused(json!({"type": "tip", "amount": 500}), "email_unverified").await;
    // Verified since: a fresh token renews the socket in-band, and the tip goes through.
    let (verified, _) = c.t.core.tokens.issue_with(fan, Role::Fan, grants(true)).unwrap();
    assert_eq!(f.request(json!({"type": "auth", "token": verified})).await["type"], "ack");
    f.ok(json!({"type": "tip", "amount": 500})).await;
    assert_eq!(h.event_of("tip").await["amount"], 500);
}
