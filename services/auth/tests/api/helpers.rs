use crate::smtp::SmtpServer;
use serde_json::{json, Value};
use tandem_auth::settings::AuthSettings;
use tandem_shared::client_addr::TrustedProxies;
use tandem_shared::rate_limit::RateLimits;
use tandem_shared::testing::{TestCore, TestServer};

pub struct TestApp {
    pub t: TestCore,
    pub server: TestServer,
    pub http: reqwest::Client,
    /// The SMTP server the app sends account mail to.
    pub smtp: SmtpServer,
}

/// The public URL links in test mail start with.
pub const PUBLIC_URL: &str = "https://tandem.test";

pub const PASSWORD: &str = "correct horse battery";

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_trusting("").await
    }

    /// An app that believes `X-Forwarded-For` from `proxies` (`TANDEM_TRUSTED_PROXIES` syntax).
    pub async fn spawn_trusting(proxies: &str) -> Self {
        Self::spawn_with(proxies, None, |_| {}).await
    }

    /// An app with `limits` (instead of none) and auth settings changed by `tune`.
    pub async fn spawn_with(proxies: &str, limits: Option<RateLimits>, tune: impl FnOnce(&mut AuthSettings)) -> Self {
        let mut t = TestCore::new().await;
        let mut settings = (*t.core.settings).clone();
        settings.trusted_proxies = TrustedProxies::parse(proxies).expect("valid proxy list");
        settings.public_url = PUBLIC_URL.into();
        if let Some(l) = limits {
            settings.rate_limits = l;
        }
        t.core.settings = std::sync::Arc::new(settings);
        let smtp = SmtpServer::start().await;
        let mut auth = AuthSettings { smtp_url: Some(smtp.url()), ..AuthSettings::default() };
        tune(&mut auth);
        let svc = tandem_auth::service_with(&t.core, auth).await.expect("auth service builds");
        let server = TestCore::spawn(&t.core, vec![svc]);
        Self { t, server, http: reqwest::Client::new(), smtp }
    }

    pub async fn post_as(&self, path: &str, bearer: &str, body: Value) -> reqwest::Response {
        self.http.post(self.url(path)).bearer_auth(bearer).json(&body).send().await.expect("request sent")
    }

    pub async fn get_as(&self, path: &str, bearer: &str) -> reqwest::Response {
        self.http.get(self.url(path)).bearer_auth(bearer).send().await.expect("request sent")
    }

    pub async fn delete_as(&self, path: &str, bearer: &str) -> reqwest::Response {
        self.http.delete(self.url(path)).bearer_auth(bearer).send().await.expect("request sent")
    }

    /// The verified claims of an access token.
    pub fn claims(&self, access: &str) -> tandem_shared::jwt::Claims {
        self.t.core.tokens.verify(access).expect("a valid access token")
    }

    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.http.post(self.url(path)).json(&body).send().await.expect("request sent")
    }

    pub async fn signup(&self, email: &str, handle: &str, role: &str) -> reqwest::Response {
        self.post("/v1/auth/signup", json!({"email": email, "password": PASSWORD, "handle": handle, "role": role}))
            .await
    }

    pub async fn login_via(&self, email: &str, password: &str, forwarded_for: &str) -> reqwest::Response {
        self.http
            .post(self.url("/v1/auth/login"))
            .header("x-forwarded-for", forwarded_for)
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post("/v1/auth/login", json!({"email": email, "password": password})).await
    }

    pub async fn refresh(&self, token: &str) -> reqwest::Response {
        self.post("/v1/auth/refresh", json!({"refresh_token": token})).await
    }

    pub async fn me(&self, access: &str) -> reqwest::Response {
        self.http.get(self.url("/v1/me")).bearer_auth(access).send().await.expect("request sent")
    }

    /// Sign up and return the token response body.
    pub async fn signed_up(&self, email: &str, handle: &str) -> Value {
        let res = self.signup(email, handle, "fan").await;
        assert_eq!(res.status(), 201);
        res.json().await.unwrap()
    }
}

pub async fn code_of(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.expect("error bodies are JSON");
    (status, body["code"].as_str().expect("error body has a code").to_string())
}
