//! Rate limits on the broker's write routes: per user, across servers sharing Redis.

use crate::helpers::settings;
use serde_json::json;
use std::sync::Arc;
use tandem_shared::ids::Role;
use tandem_shared::media_token::MediaKey;
use tandem_shared::rate_limit::{Class, ClassLimits, FailMode, Limit};
use tandem_shared::redis::RedisHandle;
use tandem_shared::testing::{redis_url, TestCore};

#[tokio::test]
async fn the_per_user_limit_holds_across_servers_and_other_users_keep_theirs() {
    let mut t = TestCore::new().await;
    let mut core_settings = (*t.core.settings).clone();
    let write = ClassLimits { user: Some(Limit::per(3, 60)), addr: None, fail: FailMode::Open };
    core_settings.rate_limits.set(Class::Write, write);
    t.core.settings = Arc::new(core_settings);
    t.core.hooks.set_users(Arc::new(tandem_auth::directory::Directory::new(t.core.db.clone())));
    let key = MediaKey::generate();
    let svc_a = tandem_broker::build(&t.core, settings(), key.clone(), false).expect("broker builds");
    let a = TestCore::spawn(&t.core, vec![Arc::new(svc_a)]);
    let mut core_b = t.core.clone();
    core_b.redis = RedisHandle::connect(&redis_url(), t.core.redis.prefix()).await.expect("second redis");
    core_b.hooks = tandem_shared::hooks::Hooks::default();
    core_b.hooks.set_users(Arc::new(tandem_auth::directory::Directory::new(t.core.db.clone())));
    let svc_b = tandem_broker::build(&core_b, settings(), key, false).expect("broker builds");
    let b = TestCore::spawn(&core_b, vec![Arc::new(svc_b)]);

    let http = reqwest::Client::new();
    let ana = t.user(Role::Creator).await;
    let bob = t.user(Role::Creator).await;
    let presence = |server: &tandem_shared::testing::TestServer, token: &str| {
        http.put(server.url("/v1/presence")).bearer_auth(token).json(&json!({"status": "online"})).send()
    };
    assert_eq!(presence(&a, &ana.token).await.unwrap().status(), 200);
    assert_eq!(presence(&b, &ana.token).await.unwrap().status(), 200);
    assert_eq!(presence(&a, &ana.token).await.unwrap().status(), 200);
    for server in [&b, &a] {
        let res = presence(server, &ana.token).await.unwrap();
        assert_eq!(res.status(), 429);
        let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=20).contains(&retry), "Retry-After {retry}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], "rate_limited");
    }
    // Another user from the same address has a budget of their own (the address is not limited
    // here), and reads are never limited.
    assert_eq!(presence(&b, &bob.token).await.unwrap().status(), 200);
    let read = http.get(a.url(&format!("/v1/presence/{}", ana.id))).bearer_auth(&ana.token).send().await.unwrap();
    assert_eq!(read.status(), 200);
}
