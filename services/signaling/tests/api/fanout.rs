use crate::helpers::{Client, Cluster};
use serde_json::json;
use tandem_shared::events::{publish, room_channel, BusEvent};
use tandem_shared::ids::Role;
use tandem_shared::ids::{RoomId, UserId};
use tandem_shared::testing::RoomCall;

#[tokio::test]
async fn broadcast_chat_reaches_every_member_on_both_nodes_exactly_once() {
    let c = Cluster::new().await;
    let (host, host_token) = c.user(Role::Creator).await;
    let (_, v1_token) = c.user(Role::Fan).await;
    let (_, v2_token) = c.user(Role::Fan).await;
    let (_, v3_token) = c.user(Role::Fan).await;
    let room = c.room("broadcast", host, None).await;
    let mut h = Client::connect(&c.a.ws_url(&host_token, "")).await;
    let mut v1 = Client::connect(&c.a.ws_url(&v1_token, "")).await;
    let mut v2 = Client::connect(&c.b.ws_url(&v2_token, "")).await;
    let mut v3 = Client::connect(&c.b.ws_url(&v3_token, "")).await;
    h.join(room).await;
    for v in [&mut v1, &mut v2, &mut v3] {
        assert_eq!(v.join(room).await["data"]["role"], "viewer");
    }

    h.ok(json!({"type": "chat", "text": "hello all"})).await;
    v2.ok(json!({"type": "chat", "text": "hi from b"})).await;
    // Room events arrive in room order; once the last one is in, any duplicate would have been too.
    h.ok(json!({"type": "chat", "text": "end"})).await;
    for v in [&mut h, &mut v1, &mut v2, &mut v3] {
        let chats = v.until_chat("end", &["chat"]).await;
        let texts: Vec<_> = chats.iter().map(|c| c["text"].as_str().unwrap().to_string()).collect();
        assert_eq!(texts, ["hello all", "hi from b", "end"]);
        let seqs: Vec<u64> = chats.iter().map(|c| c["room_seq"].as_u64().unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "room_seq increases: {seqs:?}");
        assert_eq!(chats[0]["from"], host.to_string());
        assert!(chats[0]["handle"].as_str().unwrap().starts_with('u'));
    }
}

#[tokio::test]
async fn viewer_counts_add_up_across_nodes_and_are_pushed_to_the_room() {
    let c = Cluster::new().await;
    let (host, host_token) = c.user(Role::Creator).await;
    let room = c.room("broadcast", host, None).await;
    let mut h = Client::connect(&c.a.ws_url(&host_token, "")).await;
    h.join(room).await;
    let mut viewers = Vec::new();
    for node in [&c.a, &c.b, &c.b] {
        let (_, t) = c.user(Role::Fan).await;
        let mut v = Client::connect(&node.ws_url(&t, "")).await;
        v.join(room).await;
        viewers.push(v);
    }
    loop {
        let ev = h.event_of("viewers").await;
        if ev["count"] == 3 {
            break;
        }
    }
    let counts = tandem_shared::live::viewer_counts(&c.a.core.redis, &[room]).await.unwrap();
    assert_eq!(counts, [3]);
}

#[tokio::test]
async fn room_ended_reaches_members_and_takes_them_out_of_the_room() {
    let c = Cluster::new().await;
    let (creator, creator_token) = c.user(Role::Creator).await;
    let (fan, fan_token) = c.user(Role::Fan).await;
    let room = c.room("private", creator, Some(fan)).await;
    let mut f = Client::connect(&c.a.ws_url(&fan_token, "")).await;
    let mut k = Client::connect(&c.b.ws_url(&creator_token, "")).await;
    f.join(room).await;
    k.join(room).await;
    assert!(c.rooms.end(room));
    let ended = BusEvent::RoomEnded { room_id: room, reason: "host_ended".into() };
    publish(&c.a.core.redis, &room_channel(&c.a.core.redis, room), &ended).await.unwrap();
    for client in [&mut f, &mut k] {
        let ev = client.event_of("room.ended").await;
        assert_eq!(ev["reason"], "host_ended");
        assert!(ev["seq"].as_u64().is_some());
        client.refused(json!({"type": "chat", "text": "still here?"}), "not_in_room").await;
    }
    // The ended room cannot be joined again, on either node (the cache was evicted).
    f.refused(json!({"type": "join", "room_id": room}), "room_ended").await;
    k.refused(json!({"type": "join", "room_id": room}), "room_ended").await;
}

#[tokio::test]
async fn heartbeats_tips_and_the_stage_work_in_a_broadcast() {
    let c = Cluster::new().await;
    let (host, host_token) = c.user(Role::Creator).await;
    let (fan, fan_token) = c.user(Role::Fan).await;
    let (other, other_token) = c.user(Role::Fan).await;
    let room = c.room("broadcast", host, None).await;
    let mut h = Client::connect(&c.a.ws_url(&host_token, "")).await;
    let mut f = Client::connect(&c.b.ws_url(&fan_token, "")).await;
    let mut o = Client::connect(&c.b.ws_url(&other_token, "")).await;
    h.join(room).await;
    f.join(room).await;
    o.join(room).await;

    f.ok(json!({"type": "heartbeat"})).await;
    assert!(c.rooms.calls().contains(&RoomCall::Heartbeat(room, fan)), "the heartbeat reaches the broker");

    f.ok(json!({"type": "tip", "amount": 500})).await;
    let tip = h.event_of("tip").await;
    assert_eq!((tip["amount"].as_i64(), tip["from"].as_str()), (Some(500), Some(fan.to_string().as_str())));
    f.refused(json!({"type": "tip", "amount": 0}), "invalid_value").await;
    h.refused(json!({"type": "tip", "amount": 5}), "forbidden").await;

    f.refused(json!({"type": "stage.invite", "user_id": other}), "forbidden").await;
    f.refused(json!({"type": "stage.accept"}), "not_invited").await;
    h.ok(json!({"type": "stage.invite", "user_id": fan})).await;
    let invite = f.event_of("stage.invite").await;
    assert_eq!(invite["from"], host.to_string());
    f.ok(json!({"type": "stage.accept"})).await;
    // Invitations are delivered only to the invitee; the stage change to everyone.
    h.ok(json!({"type": "chat", "text": "check"})).await;
    let events = o.until_chat("check", &["stage.invite", "stage.joined"]).await;
    let kinds: Vec<_> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["stage.joined"]);
    h.ok(json!({"type": "stage.leave", "user_id": fan})).await;
    assert_eq!(f.event_of("stage.left").await["user_id"], fan.to_string());
}

/// A tip a [`TipGate`] accepted: room, tipper, amount, idempotency key.
type SeenTip = (RoomId, UserId, i64, Option<String>);

/// A payment gate that accepts tips up to a budget and records them.
struct TipGate {
    budget: std::sync::Mutex<i64>,
    seen: std::sync::Mutex<Vec<SeenTip>>,
}

#[async_trait::async_trait]
impl tandem_shared::hooks::PaymentGate for TipGate {
    async fn quote_private(
        &self,
        _: UserId,
        _: UserId,
    ) -> Result<Option<tandem_shared::hooks::PriceQuote>, tandem_shared::hooks::PaymentRefusal> {
        Ok(None)
    }
    async fn start_private(
        &self,
        _: RoomId,
        _: UserId,
        _: UserId,
        _: chrono::DateTime<chrono::Utc>,
        _: i64,
    ) -> Result<(), tandem_shared::hooks::PaymentRefusal> {
        Ok(())
    }
    async fn end_private(&self, _: RoomId) -> anyhow::Result<()> {
        Ok(())
    }
    async fn tip(
        &self,
        room: RoomId,
        from: UserId,
        amount: i64,
        _note: Option<String>,
        key: Option<String>,
    ) -> Result<(), tandem_shared::hooks::PaymentRefusal> {
        let mut budget = self.budget.lock().unwrap();
        // Like billing: a key already applied is answered with the original success.
        if key.is_some() && self.seen.lock().unwrap().iter().any(|t| t.1 == from && t.3 == key) {
            return Ok(());
        }
        if *budget < amount {
            return Err(tandem_shared::hooks::PaymentRefusal::InsufficientFunds { needed: amount, available: *budget });
        }
        *budget -= amount;
        self.seen.lock().unwrap().push((room, from, amount, key));
        Ok(())
    }
}

#[tokio::test]
async fn tips_are_charged_through_billing_when_it_runs() {
    let c = Cluster::new().await;
    let gate = std::sync::Arc::new(TipGate { budget: std::sync::Mutex::new(700), seen: Default::default() });
    c.a.core.hooks.set_payment(gate.clone());
    let (host, _) = c.user(Role::Creator).await;
    let (fan, fan_token) = c.user(Role::Fan).await;
    let room = c.room("broadcast", host, None).await;
    let mut f = Client::connect(&c.a.ws_url(&fan_token, "")).await;
    f.join(room).await;

    f.ok(json!({"type": "tip", "amount": 500})).await;
    f.refused(json!({"type": "tip", "amount": 500}), "invalid_value").await;
    let seen = gate.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].0, seen[0].1, seen[0].2), (room, fan, 500));
    assert!(seen[0].3.as_deref().is_some_and(|k| k.starts_with("ws:")), "an idempotency key is passed");
    assert_eq!(*gate.budget.lock().unwrap(), 200);
}

#[tokio::test]
async fn stage_accept_and_leave_hand_the_guest_slot_over_through_room_control() {
    let c = Cluster::new().await;
    let rooms = c.rooms.clone();
    let stage = || -> Vec<RoomCall> {
        rooms.calls().into_iter().filter(|c| matches!(c, RoomCall::SetStage(..) | RoomCall::LeaveStage(..))).collect()
    };
    let (host, host_token) = c.user(Role::Creator).await;
    let (fan, fan_token) = c.user(Role::Fan).await;
    let room = c.room("broadcast", host, None).await;
    let mut h = Client::connect(&c.a.ws_url(&host_token, "")).await;
    let mut f = Client::connect(&c.b.ws_url(&fan_token, "")).await;
    h.join(room).await;
    f.join(room).await;

    f.refused(json!({"type": "stage.accept"}), "not_invited").await;
    assert!(stage().is_empty(), "nothing changes without an invitation");
    h.ok(json!({"type": "stage.invite", "user_id": fan})).await;
    f.event_of("stage.invite").await;
    f.ok(json!({"type": "stage.accept"})).await;
    assert_eq!(stage(), [RoomCall::SetStage(room, Some(fan))], "the acceptance hands over the guest slot");
    h.event_of("stage.joined").await;

    // The host takes the fan off; then the fan leaves on their own.
    h.ok(json!({"type": "stage.leave", "user_id": fan})).await;
    f.ok(json!({"type": "stage.leave"})).await;
    assert_eq!(stage()[1..], [RoomCall::LeaveStage(room, fan), RoomCall::LeaveStage(room, fan)]);

    // When the broker cannot be told, the acceptance is refused and nobody is announced.
    rooms.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    h.ok(json!({"type": "stage.invite", "user_id": fan})).await;
    f.event_of("stage.invite").await;
    f.refused(json!({"type": "stage.accept"}), "unavailable").await;
    assert_eq!(stage().len(), 3);
}

#[tokio::test]
async fn a_tip_retried_after_a_reconnect_on_another_node_is_charged_once() {
    let c = Cluster::new().await;
    let gate = std::sync::Arc::new(TipGate { budget: std::sync::Mutex::new(10_000), seen: Default::default() });
    c.a.core.hooks.set_payment(gate.clone());
    c.b.core.hooks.set_payment(gate.clone());
    let (host, _) = c.user(Role::Creator).await;
    let (fan, fan_token) = c.user(Role::Fan).await;
    let room = c.room("broadcast", host, None).await;
    let tip = json!({"type": "tip", "amount": 500, "idempotency_key": "tip-7f3a"});
    {
        let mut f = Client::connect(&c.a.ws_url(&fan_token, "")).await;
        f.join(room).await;
        f.ok(tip.clone()).await;
    }
    // The socket dropped before the client saw the answer: it reconnects to the other node and
    // sends the same tip again.
    let mut f = Client::connect(&c.b.ws_url(&fan_token, "")).await;
    f.join(room).await;
    f.ok(tip).await;
    let seen = gate.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "charged once: {seen:?}");
    assert_eq!((seen[0].0, seen[0].1, seen[0].2), (room, fan, 500));
    assert_eq!(*gate.budget.lock().unwrap(), 9_500);
    // A fresh key is a new tip; a malformed key is refused.
    f.ok(json!({"type": "tip", "amount": 500, "idempotency_key": "tip-8b21"})).await;
    assert_eq!(*gate.budget.lock().unwrap(), 9_000);
    f.refused(json!({"type": "tip", "amount": 5, "idempotency_key": "no spaces"}), "invalid_value").await;
}
