//! Stage revocation end to end: a real broker hands out the guest slot's publish token; when the
//! host clears the stage the relay closes the removed fan's publisher and refuses their token,
//! and the next staged fan publishes. Run with the relay asking the broker in-process
//! (`tandem serve`) and over internal HTTP (split binaries).

use crate::helpers::{eventually, Publisher, RecordedEvents};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tandem_relay::forward::Forwarder;
use tandem_relay::RelaySettings;
use tandem_shared::contracts::client::InternalClient;
use tandem_shared::contracts::rooms::RemoteRoomControl;
use tandem_shared::ids::{Role, SlotId};
use tandem_shared::jwt::KeyPair;
use tandem_shared::media_token::MediaKey;
use tandem_shared::server::Core;
use tandem_shared::service_auth::ServiceName;
use tandem_shared::slot_release::release_channel;
use tandem_shared::testing::{TestCore, TestServer, TestUser};

/// A broker and a relay against one database and Redis prefix.
struct Deployment {
    t: TestCore,
    broker: TestServer,
    relay: TestServer,
    forwarder: Forwarder,
    http: reqwest::Client,
    _relay_core: Core,
}

impl Deployment {
    /// `remote`: the relay is its own "process" (own core and hooks) asking the broker over
    /// internal HTTP; otherwise the relay shares the broker's core and asks it in-process.
    async fn start(remote: bool, revalidate: Duration) -> Self {
        let t = TestCore::new().await;
        t.core.hooks.set_users(Arc::new(tandem_auth::directory::Directory::new(t.core.db.clone())));
        let key = MediaKey::generate();
        let mut settings = tandem_broker::BrokerSettings::relay_defaults();
        settings.heartbeat_grace = Duration::from_secs(120);
        let broker_svc = tandem_broker::build(&t.core, settings, key.clone(), false).expect("broker builds");
        let relay_settings = RelaySettings {
            hosts: vec!["127.0.0.1".parse().expect("ip")],
            revalidate_interval: revalidate,
            ..Default::default()
        };
        let events = Arc::new(RecordedEvents::default());
        if remote {
            let broker = TestCore::spawn(&t.core, vec![Arc::new(broker_svc)]);
            let prefix = t.core.redis.prefix().to_string();
            let core_settings = TestCore::settings(&t.database_url, &prefix);
            let mut relay_core =
                Core::from_parts(core_settings, t.core.db.clone(), t.core.redis.clone(), KeyPair::generate());
            relay_core.service_key = t.core.service_key.clone();
            let client = InternalClient::new(
                &broker.url(""),
                relay_core.service_key.clone(),
                ServiceName::Relay,
                ServiceName::Broker,
            )
            .expect("client");
            relay_core.hooks.set_rooms(Arc::new(RemoteRoomControl::new(client)));
            let relay_svc = tandem_relay::build(&relay_core, relay_settings, key, events);
            let forwarder = relay_svc.forwarder().clone();
            let relay = TestCore::spawn(&relay_core, vec![Arc::new(relay_svc)]);
            Self { t, broker, relay, forwarder, http: reqwest::Client::new(), _relay_core: relay_core }
        } else {
            let relay_svc = tandem_relay::build(&t.core, relay_settings, key, events);
            let forwarder = relay_svc.forwarder().clone();
            let server = TestCore::spawn(&t.core, vec![Arc::new(broker_svc), Arc::new(relay_svc)]);
            let relay = TestServer { addr: server.addr, handle: server.handle.clone() };
            let relay_core = t.core.clone();
            Self { t, broker: server, relay, forwarder, http: reqwest::Client::new(), _relay_core: relay_core }
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        user: &TestUser,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self.http.request(method, self.broker.url(path)).bearer_auth(&user.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request sent")
    }

    /// `user`'s view of the guest slot: its id and, when `user` may publish it, the WHIP path
    /// and token.
    async fn guest_slot(&self, user: &TestUser, room: &str) -> (SlotId, Option<(String, String)>) {
        let res = self.call(reqwest::Method::GET, user, &format!("/v1/rooms/{room}"), None).await;
        assert_eq!(res.status(), 200);
        let view: Value = res.json().await.expect("json");
        let slot = view["slots"].as_array().expect("slots").iter().find(|s| s["name"] == "guest").expect("guest");
        let id: SlotId = slot["slot_id"].as_str().expect("id").parse().expect("uuid");
        let publish = slot.get("publish").map(|p| {
            let url = p["whip_url"].as_str().expect("whip url");
            let path = &url[url.find("/v1/relay/").expect("relay path")..];
            (path.to_string(), p["token"].as_str().expect("token").to_string())
        });
        (id, publish)
    }

    /// POST a WHIP offer; the status, error code and, on 201, the publisher sending media.
    async fn publish(
        &self,
        path: &str,
        token: &str,
    ) -> (u16, String, Option<(Publisher, tokio::sync::oneshot::Sender<()>)>) {
        let mut publisher = Publisher::new().await;
        let offer = publisher.client.offer().await;
        let res = self
            .http
            .post(self.relay.url(path))
            .bearer_auth(token)
            .header("content-type", "application/sdp")
            .body(offer)
            .send()
            .await
            .expect("sent");
        let status = res.status().as_u16();
        if status != 201 {
            let body: Value = res.json().await.expect("json error");
            return (status, body["code"].as_str().unwrap_or_default().to_string(), None);
        }
        publisher.client.accept(res.text().await.expect("answer")).await;
        let stop = publisher.start_sending();
        (status, String::new(), Some((publisher, stop)))
    }

    /// Wait until the relay listens for releases (a message sent earlier would be lost).
    async fn relay_listening(&self) {
        let redis = &self.t.core.redis;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let mut conn = redis.conn.clone();
            let (_, n): (String, i64) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(release_channel(redis))
                .query_async(&mut conn)
                .await
                .expect("PUBSUB NUMSUB");
            if n >= 1 {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "the relay never subscribed to releases");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The host stages fan 1, who publishes; the host clears the stage; fan 2 is staged and publishes.
async fn stage_revocation(remote: bool) {
    // Re-validation is slow here: the announcement alone must close the publisher in time.
    let d = Deployment::start(remote, Duration::from_secs(60)).await;
    let host = d.t.user(Role::Creator).await;
    let (fan1, fan2) = (d.t.user(Role::Fan).await, d.t.user(Role::Fan).await);
    let res = d.call(reqwest::Method::POST, &host, "/v1/rooms", Some(json!({"title": "stage"}))).await;
    assert_eq!(res.status(), 201);
    let room: Value = res.json().await.expect("json");
    let room = room["id"].as_str().expect("id").to_string();
    let stage = format!("/v1/rooms/{room}/stage");

    let res = d.call(reqwest::Method::PUT, &host, &stage, Some(json!({"user_id": fan1.id}))).await;
    assert_eq!(res.status(), 200);
    let (slot, publish) = d.guest_slot(&fan1, &room).await;
    let (path, old_token) = publish.expect("fan 1 on stage may publish the guest slot");
    let (status, code, _fan1_publisher) = d.publish(&path, &old_token).await;
    assert_eq!(status, 201, "fan 1 publishes: {code}");
    assert!(eventually(10, || d.forwarder.is_publishing(slot)).await);
    d.relay_listening().await;

    let res = d.call(reqwest::Method::DELETE, &host, &stage, None).await;
    assert_eq!(res.status(), 204);
    let cleared = Instant::now();
    assert!(eventually(2, || !d.forwarder.is_publishing(slot)).await, "fan 1's publisher is closed");
    assert!(cleared.elapsed() <= Duration::from_millis(2500), "closed within 2 s: {:?}", cleared.elapsed());

    let (status, code, _) = d.publish(&path, &old_token).await;
    assert_eq!((status, code.as_str()), (410, "token_revoked"), "fan 1's old token is refused");
    assert!(d.guest_slot(&fan1, &room).await.1.is_none(), "fan 1 gets no new publish token");

    let res = d.call(reqwest::Method::PUT, &host, &stage, Some(json!({"user_id": fan2.id}))).await;
    assert_eq!(res.status(), 200);
    let (_, publish) = d.guest_slot(&fan2, &room).await;
    let (path2, token2) = publish.expect("fan 2 on stage may publish the guest slot");
    let (status, code, _fan2_publisher) = d.publish(&path2, &token2).await;
    assert_eq!(status, 201, "fan 2 publishes (no slot_busy): {code}");
    let (status, code, _) = d.publish(&path, &old_token).await;
    assert_eq!((status, code.as_str()), (410, "token_revoked"), "fan 1's token stays refused");
    assert!(d.forwarder.is_publishing(slot));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clearing_the_stage_revokes_the_removed_fans_publish_token_in_process() {
    stage_revocation(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clearing_the_stage_revokes_the_removed_fans_publish_token_remote() {
    stage_revocation(true).await;
}

/// A stage change whose announcement never reached the relay: re-validation with the broker
/// (PostgreSQL) still ends the old publisher, and the next staged fan's newer token takes the
/// slot even before that.
async fn missed_stage_change(remote: bool) {
    let d = Deployment::start(remote, Duration::from_millis(500)).await;
    let host = d.t.user(Role::Creator).await;
    let fan = d.t.user(Role::Fan).await;
    let res = d.call(reqwest::Method::POST, &host, "/v1/rooms", Some(json!({"title": "stage"}))).await;
    let room: Value = res.json().await.expect("json");
    let room = room["id"].as_str().expect("id").to_string();
    let stage = format!("/v1/rooms/{room}/stage");
    let res = d.call(reqwest::Method::PUT, &host, &stage, Some(json!({"user_id": fan.id}))).await;
    assert_eq!(res.status(), 200);
    let (slot, publish) = d.guest_slot(&fan, &room).await;
    let (path, token) = publish.expect("publish endpoint");
    let (status, _, _publisher) = d.publish(&path, &token).await;
    assert_eq!(status, 201);
    assert!(eventually(10, || d.forwarder.is_publishing(slot)).await);

    // The broker's database moves on (as a stage change does); no Redis message is sent.
    let room_id = room.parse().expect("room id");
    let bumped = tandem_broker::store::bump_guest_generation(&d.t.core.db, room_id).await.expect("bumped");
    assert_eq!(bumped.map(|(s, _)| s), Some(slot));
    assert!(eventually(5, || !d.forwarder.is_publishing(slot)).await, "re-validation closes the publisher");
    let (status, code, _) = d.publish(&path, &token).await;
    assert_eq!((status, code.as_str()), (410, "token_revoked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_change_the_relay_never_heard_of_is_found_by_revalidation_in_process() {
    missed_stage_change(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_change_the_relay_never_heard_of_is_found_by_revalidation_remote() {
    missed_stage_change(true).await;
}
