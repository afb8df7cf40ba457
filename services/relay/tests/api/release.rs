//! A room's end, announced by the broker on Redis, closes its slots' sessions on the relay and
//! stops their tokens from opening new ones.

use crate::helpers::{eventually, Player, Publisher, TestRelay};
use std::time::Duration;
use tandem_shared::ids::{RoomId, SlotId};
use tandem_shared::media_token::MediaGrant;
use tandem_shared::slot_release::{announce, release_channel, SlotRelease};
use webrtc::peer_connection::RTCPeerConnectionState;

async fn offer_status(relay: &TestRelay, kind: &str, slot: SlotId, token: &str) -> (u16, serde_json::Value) {
    let mut client = if kind == "whip" { Publisher::new().await.client } else { Player::new().await.client };
    let offer = client.offer().await;
    let res = relay.post_offer(kind, slot, Some(token), &offer).await;
    let status = res.status().as_u16();
    if status == 201 {
        client.accept(res.text().await.expect("answer")).await;
        return (status, serde_json::Value::Null);
    }
    (status, res.json().await.expect("json error body"))
}

/// Wait until the relay listens on the release channel (a message sent earlier would be lost).
async fn relay_listening(relay: &TestRelay) {
    let redis = &relay._t.core.redis;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_slot_loses_its_sessions_and_refuses_its_old_tokens() {
    let relay = TestRelay::spawn().await;
    let room = RoomId::new();
    let (host, guest, other) = (SlotId::new(), SlotId::new(), SlotId::new());
    let host_publish = relay.room_token(host, room, MediaGrant::Publish);
    let host_play = relay.room_token(host, room, MediaGrant::Play);

    let mut publisher = Publisher::new().await;
    let offer = publisher.client.offer().await;
    let res = relay.post_offer("whip", host, Some(&host_publish), &offer).await;
    assert_eq!(res.status(), 201);
    publisher.client.accept(res.text().await.expect("answer")).await;
    let _stop = publisher.start_sending();
    let mut player = Player::new().await;
    let offer = player.client.offer().await;
    let res = relay.post_offer("whep", host, Some(&host_play), &offer).await;
    assert_eq!(res.status(), 201);
    player.client.accept(res.text().await.expect("answer")).await;
    assert_eq!(player.receive(5, 15).await, 5, "media flows before the end");
    // A slot of another room keeps its publisher.
    assert_eq!(offer_status(&relay, "whip", other, &relay.token(other, MediaGrant::Publish)).await.0, 201);

    relay_listening(&relay).await;
    let release = SlotRelease { room_id: room, slot_ids: vec![host, guest], generation: None, user_id: None };
    announce(&relay._t.core.redis, &release, Duration::from_secs(600)).await.expect("announced");

    assert!(eventually(5, || !relay.forwarder.is_publishing(host)).await, "the publisher is ended");
    assert_eq!(relay.forwarder.stats().subscribers, 0, "its player is ended");
    assert!(relay.forwarder.is_publishing(other), "other rooms are untouched");
    let mut state = player.client.state.clone();
    let closed = tokio::time::timeout(
        Duration::from_secs(10),
        state.wait_for(|s| {
            matches!(
                s,
                RTCPeerConnectionState::Closed | RTCPeerConnectionState::Disconnected | RTCPeerConnectionState::Failed
            )
        }),
    )
    .await;
    assert!(closed.is_ok(), "the player's connection is closed by the relay");
    assert!(eventually(5, || relay.events.all().contains(&(host, false))).await, "the broker was told");

    // The old, unexpired tokens no longer open sessions on either slot.
    let (status, body) = offer_status(&relay, "whip", host, &host_publish).await;
    assert_eq!((status, body["code"].as_str()), (410, Some("slot_released")));
    let (status, _) = offer_status(&relay, "whep", host, &host_play).await;
    assert_eq!(status, 410);
    let guest_publish = relay.room_token(guest, room, MediaGrant::Publish);
    assert_eq!(offer_status(&relay, "whip", guest, &guest_publish).await.0, 410);
    assert!(!relay.forwarder.is_publishing(host) && !relay.forwarder.is_publishing(guest));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_redis_never_saw_still_refuses_new_sessions_and_ends_running_ones() {
    let relay = TestRelay::spawn().await;
    let room = RoomId::new();
    let (host, guest) = (SlotId::new(), SlotId::new());
    let host_publish = relay.room_token(host, room, MediaGrant::Publish);

    let mut publisher = Publisher::new().await;
    let offer = publisher.client.offer().await;
    let res = relay.post_offer("whip", host, Some(&host_publish), &offer).await;
    assert_eq!(res.status(), 201);
    publisher.client.accept(res.text().await.expect("answer")).await;
    let _stop = publisher.start_sending();
    assert!(eventually(10, || relay.forwarder.is_publishing(host)).await, "the publisher is live");

    // The room ends in the broker's database, but neither the Redis marker nor the message
    // reaches the relay (Redis restarted empty, the message was lost).
    relay.rooms.release_slot(host);
    relay.rooms.release_slot(guest);
    assert!(eventually(5, || !relay.forwarder.is_publishing(host)).await, "re-validation ends the running session");
    let guest_publish = relay.room_token(guest, room, MediaGrant::Publish);
    let (status, body) = offer_status(&relay, "whip", guest, &guest_publish).await;
    assert_eq!((status, body["code"].as_str()), (410, Some("slot_released")), "a new session is refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_cannot_ask_the_broker_refuses_new_sessions() {
    let relay = TestRelay::spawn().await;
    let slot = SlotId::new();
    relay.rooms.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let (status, body) = offer_status(&relay, "whip", slot, &relay.token(slot, MediaGrant::Publish)).await;
    assert_eq!((status, body["code"].as_str()), (503, Some("unavailable")), "fails closed");
}
