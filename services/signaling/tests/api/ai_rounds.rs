//! AI rooms over two signaling nodes with a real broker (node A in-process, node B over the
//! internal HTTP contracts) and the Daydream stand-in behind it.

#[path = "../../../broker/tests/api/daydream_standin.rs"]
#[allow(dead_code)]
mod daydream_standin;

use crate::helpers::{settings, Client};
use daydream_standin::{DaydreamStandIn, API_KEY};
use serde_json::{json, Value};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tandem_shared::contracts::{ai::RemoteAiControl, rooms::RemoteRoomControl, InternalClient};
use tandem_shared::ids::Role;
use tandem_shared::media_token::MediaKey;
use tandem_shared::redis::RedisHandle;
use tandem_shared::service_auth::ServiceName;
use tandem_shared::testing::{redis_url, TestCore, TestServer};
use tandem_signaling::{service_with, SignalingSettings};

struct AiCluster {
    t: TestCore,
    dd: DaydreamStandIn,
    a: TestServer,
    b: TestServer,
    _core_b: tandem_shared::server::Core,
}

fn node_settings(name: &str) -> SignalingSettings {
    let mut s = settings(name);
    s.ai_round = Duration::from_secs(3);
    s.blocklist = vec!["forbidden fruit".into()];
    s.propose_rate = 2;
    s
}

impl AiCluster {
    async fn new() -> Self {
        let dd = DaydreamStandIn::start();
        let t = TestCore::new().await;
        let users: Arc<dyn tandem_shared::hooks::UserDirectory> =
            Arc::new(tandem_auth::directory::Directory::new(t.core.db.clone()));
        t.core.hooks.set_users(users.clone());
        let mut bs = tandem_broker::BrokerSettings::relay_defaults();
        let mut d = tandem_broker::ai::daydream::DaydreamSettings::new(&dd.base, API_KEY);
        d.backoff = Duration::from_millis(10);
        bs.daydream = Some(d);
        let broker = tandem_broker::build(&t.core, bs, MediaKey::generate(), false).expect("broker builds");
        let sig_a = service_with(&t.core, node_settings("node-a")).expect("node a builds");
        let a = TestCore::spawn(&t.core, vec![Arc::new(broker), sig_a]);
        // Node B reaches the broker only over internal HTTP.
        let mut core_b = t.core.clone();
        core_b.db = tandem_shared::db::connect(&t.database_url, 5).await.expect("second pool");
        core_b.redis = RedisHandle::connect(&redis_url(), t.core.redis.prefix()).await.expect("second redis");
        core_b.shutdown = t.core.shutdown.child_token();
        core_b.draining = Arc::new(AtomicBool::new(false));
        core_b.hooks = tandem_shared::hooks::Hooks::default();
        let client =
            InternalClient::new(&a.url(""), t.core.service_key.clone(), ServiceName::Signaling, ServiceName::Broker)
                .unwrap();
        core_b.hooks.set_rooms(Arc::new(RemoteRoomControl::new(client.clone())));
        core_b.hooks.set_ai(Arc::new(RemoteAiControl::new(client)));
        core_b.hooks.set_users(users);
        let sig_b = service_with(&core_b, node_settings("node-b")).expect("node b builds");
        let b = TestCore::spawn(&core_b, vec![sig_b]);
        Self { t, dd, a, b, _core_b: core_b }
    }

    fn ws(&self, on_b: bool, token: &str) -> String {
        let addr = if on_b { self.b.addr } else { self.a.addr };
        format!("ws://{addr}/v1/ws?access_token={token}")
    }

    /// A creator, their AI room (opened on the broker over HTTP) and their socket on node A.
    async fn ai_room(&self) -> (String, Client) {
        let creator = self.t.user(Role::Creator).await;
        let res = reqwest::Client::new()
            .post(self.a.url("/v1/rooms"))
            .bearer_auth(&creator.token)
            .json(&json!({"title": "show", "ai": {"prompt": "opening"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let room: Value = res.json().await.unwrap();
        let id = room["id"].as_str().unwrap().to_string();
        let mut host = Client::connect(&self.ws(false, &creator.token)).await;
        host.ok(json!({"type": "join", "room_id": id})).await;
        (id, host)
    }

    async fn viewer(&self, on_b: bool, room: &str) -> Client {
        let fan = self.t.user(Role::Fan).await;
        let mut c = Client::connect(&self.ws(on_b, &fan.token)).await;
        assert_eq!(c.ok(json!({"type": "join", "room_id": room})).await["data"]["role"], "viewer");
        c
    }
}

/// Events up to and including the next `prompt.applied`, with when each arrived.
async fn until_applied(c: &mut Client) -> Vec<(Value, Instant)> {
    let mut seen = Vec::new();
    loop {
        let v = c.next_event().await;
        let done = v["type"] == "prompt.applied";
        seen.push((v, Instant::now()));
        if done {
            return seen;
        }
    }
}

#[tokio::test]
async fn two_nodes_twenty_viewers_one_patch_per_round_and_the_same_applied_everywhere() {
    let c = AiCluster::new().await;
    let (room, mut host) = c.ai_room().await;
    let mut viewers = Vec::new();
    for i in 0..20 {
        viewers.push(c.viewer(i % 2 == 1, &room).await);
    }
    for round in 0..2 {
        // Start from a fresh round: wait for the driver to announce one.
        host.event_of("prompt.round").await;
        let a_text = format!("glass cathedral {round}");
        let b_text = format!("molten gold {round}");
        let pa = viewers[0].ok(json!({"type": "prompt.propose", "text": a_text})).await["data"]["proposal_id"].clone();
        let pb = viewers[1].ok(json!({"type": "prompt.propose", "text": b_text})).await["data"]["proposal_id"].clone();
        // 12 votes for B's proposal, 8 for A's, from both nodes.
        for (i, v) in viewers.iter_mut().enumerate() {
            let pick = if i < 12 { &pb } else { &pa };
            v.ok(json!({"type": "prompt.vote", "proposal_id": pick})).await;
        }
        viewers[3].refused(json!({"type": "prompt.vote", "proposal_id": pa}), "already_voted").await;

        let host_events = until_applied(&mut host).await;
        let applied = host_events.last().unwrap().0.clone();
        assert_eq!(applied["prompt"], b_text);
        assert_eq!(applied["proposal_id"], pb);
        assert_eq!(applied["votes"], 12);
        // Totals reached the host, at most once a second.
        let pushes: Vec<&(Value, Instant)> = host_events.iter().filter(|(v, _)| v["type"] == "prompt.votes").collect();
        assert!(!pushes.is_empty(), "vote totals were pushed");
        for w in pushes.windows(2) {
            assert!(w[1].1.duration_since(w[0].1) >= Duration::from_millis(700), "totals pushed too often");
        }
        for v in viewers.iter_mut() {
            let seen = until_applied(v).await;
            let mine = &seen.last().unwrap().0;
            for field in ["prompt", "proposal_id", "votes", "round", "room_seq"] {
                assert_eq!(mine[field], applied[field], "every member sees the same prompt.applied ({field})");
            }
        }
        // Exactly one PATCH per round, with the documented body.
        let patches = c.dd.patches();
        assert_eq!(patches.len(), round + 1, "one PATCH per round: {patches:?}");
        assert_eq!(
            patches[round].1,
            json!({"pipeline": "streamdiffusion", "params": {"model_id": "stabilityai/sd-turbo", "prompt": b_text}})
        );
    }
    // A round without proposals applies nothing.
    host.event_of("prompt.round").await;
    host.event_of("prompt.round").await;
    assert_eq!(c.dd.patches().len(), 2);
}

#[tokio::test]
async fn the_host_locks_vetoes_and_applies_and_only_the_host_sends_audio() {
    let c = AiCluster::new().await;
    let (room, mut host) = c.ai_room().await;
    let mut fan = c.viewer(true, &room).await;

    fan.refused(json!({"type": "prompt.propose", "text": "the Forbidden   fruit!"}), "blocked").await;
    fan.refused(json!({"type": "prompt.propose", "text": "x".repeat(201)}), "too_large").await;
    let p = fan.ok(json!({"type": "prompt.propose", "text": "a paper moon"})).await["data"]["proposal_id"].clone();
    fan.refused(json!({"type": "prompt.veto", "proposal_id": p}), "forbidden").await;
    fan.refused(json!({"type": "prompt.lock", "locked": true}), "forbidden").await;
    fan.refused(json!({"type": "ai.audio", "level": 0.5}), "forbidden").await;

    // Direct apply of the proposal: one PATCH, announced to the room.
    host.ok(json!({"type": "prompt.apply", "proposal_id": p})).await;
    let ev = fan.event_of("prompt.applied").await;
    assert_eq!((ev["prompt"].as_str(), ev["by_host"].as_bool()), (Some("a paper moon"), Some(true)));
    assert_eq!(c.dd.patches().len(), 1);

    // Veto, lock (no proposals or votes while locked), unlock.
    let q = fan.ok(json!({"type": "prompt.propose", "text": "a rainy street"})).await["data"]["proposal_id"].clone();
    host.ok(json!({"type": "prompt.veto", "proposal_id": q})).await;
    assert_eq!(fan.event_of("prompt.vetoed").await["proposal_id"], q);
    fan.refused(json!({"type": "prompt.vote", "proposal_id": q}), "unknown_proposal").await;
    host.ok(json!({"type": "prompt.lock", "locked": true})).await;
    assert_eq!(fan.event_of("prompt.locked").await["locked"], true);
    fan.refused(json!({"type": "prompt.propose", "text": "anything"}), "locked").await;
    host.ok(json!({"type": "prompt.lock", "locked": false})).await;
    fan.refused(json!({"type": "prompt.propose", "text": "one more"}), "rate_limited").await;

    // Audio: the host's levels reach the broker (coalesced there), at most 10 a second here.
    host.ok(json!({"type": "ai.audio", "level": 0.8, "beat": true})).await;
    host.refused(json!({"type": "ai.audio", "level": 3.0}), "invalid_value").await;
    host.refused(json!({"type": "ai.audio", "level": 0.7}), "rate_limited").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.dd.patches().len() < 2 {
        assert!(Instant::now() < deadline, "the audio update reached Daydream");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let audio = &c.dd.patches()[1].1["params"];
    assert_eq!(audio["delta"], 0.9, "a beat drives delta to its high end");
    let ev = fan.event_of("ai.updated").await;
    assert!(ev["params"]["prompt"].is_string());
}
