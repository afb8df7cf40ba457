//! WHIP publish, WHEP play, tokens, conflicts and teardown.

use crate::helpers::{eventually, Player, Publisher, TestRelay};
use tandem_shared::ids::SlotId;
use tandem_shared::media_token::MediaGrant;

/// Publish a slot with a running synthetic track; returns the publisher, its `Location`
/// and the sender keeping packets flowing.
async fn publish(relay: &TestRelay, slot: SlotId) -> (Publisher, String, tokio::sync::oneshot::Sender<()>) {
    let mut publisher = Publisher::new().await;
    let offer = publisher.client.offer().await;
    let token = relay.token(slot, MediaGrant::Publish);
    let res = relay.post_offer("whip", slot, Some(&token), &offer).await;
    assert_eq!(res.status(), 201, "WHIP answers 201");
    assert_eq!(res.headers()["content-type"], "application/sdp");
    let location = res.headers()["location"].to_str().expect("ascii").to_string();
    assert!(location.starts_with(&format!("/v1/relay/whip/{slot}/")), "{location}");
    let answer = res.text().await.expect("body");
    assert!(answer.contains("a=candidate"), "the answer carries candidates:\n{answer}");
    publisher.client.accept(answer).await;
    let stop = publisher.start_sending();
    (publisher, location, stop)
}

async fn play(relay: &TestRelay, slot: SlotId) -> (Player, String) {
    let mut player = Player::new().await;
    let offer = player.client.offer().await;
    let token = relay.token(slot, MediaGrant::Play);
    let res = relay.post_offer("whep", slot, Some(&token), &offer).await;
    assert_eq!(res.status(), 201, "WHEP answers 201: {:?}", res.text().await);
    let location = res.headers()["location"].to_str().expect("ascii").to_string();
    player.client.accept(res.text().await.expect("body")).await;
    (player, location)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_receives_what_a_publisher_sends() {
    let relay = TestRelay::spawn().await;
    let slot = SlotId::new();
    let (_publisher, _location, _stop) = publish(&relay, slot).await;
    let (mut player, _) = play(&relay, slot).await;

    assert_eq!(player.receive(25, 15).await, 25, "the player receives the publisher's packets");
    let stats = relay.forwarder.stats();
    assert_eq!((stats.publishers, stats.subscribers), (1, 1));
    assert!(stats.counters.packets_out >= 25 && stats.counters.bytes_out > 0, "{stats:?}");
    assert!(eventually(5, || relay.events.all().contains(&(slot, true))).await, "the broker was told");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_players_share_one_publisher() {
    let relay = TestRelay::spawn().await;
    let slot = SlotId::new();
    let (_publisher, _location, _stop) = publish(&relay, slot).await;
    let (mut a, _) = play(&relay, slot).await;
    let (mut b, _) = play(&relay, slot).await;
    assert_eq!(a.receive(10, 15).await, 10);
    assert_eq!(b.receive(10, 15).await, 10);
    assert_eq!(relay.forwarder.stats().subscribers, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_refused() {
    let relay = TestRelay::spawn().await;
    let slot = SlotId::new();
    let sdp = "v=0\r\n";
    let other_key = tandem_shared::media_token::MediaKey::generate();
    let forged = other_key.sign(&crate::helpers::claims(
        slot,
        tandem_shared::ids::RoomId::new(),
        MediaGrant::Publish,
        crate::helpers::chrono_now() + 60,
    ));
    for (token, status) in [
        (None, 401),
        (Some("garbage".to_string()), 401),
        (Some(forged), 401),
        (Some(relay.expired_token(slot, MediaGrant::Publish)), 401),
        (Some(relay.token(slot, MediaGrant::Play)), 403),
        (Some(relay.token(SlotId::new(), MediaGrant::Publish)), 403),
    ] {
        let res = relay.post_offer("whip", slot, token.as_deref(), sdp).await;
        assert_eq!(res.status(), status, "token {token:?}");
        let body: serde_json::Value = res.json().await.expect("json error body");
        assert!(body["code"].is_string());
    }
    let res = relay.post_offer("whep", slot, Some(&relay.token(slot, MediaGrant::Publish)), sdp).await;
    assert_eq!(res.status(), 403, "a publish token cannot play");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_400_or_415_and_not_live_is_404() {
    let relay = TestRelay::spawn().await;
    let slot = SlotId::new();
    let token = relay.token(slot, MediaGrant::Publish);
    let res = relay
        .http
        .post(relay.server.url(&format!("/v1/relay/whip/{slot}")))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 415);
    let res = relay.post_offer("whip", slot, Some(&token), "not sdp at all").await;
    assert_eq!(res.status(), 400);
    assert!(!relay.forwarder.is_publishing(slot), "a failed publish frees the slot");

    let mut player = Player::new().await;
    let offer = player.client.offer().await;
    let res = relay.post_offer("whep", slot, Some(&relay.token(slot, MediaGrant::Play)), &offer).await;
    assert_eq!(res.status(), 404, "nobody publishes the slot");
    let res = relay.http.post(relay.server.url("/v1/relay/whip/not-a-uuid")).send().await.expect("sent");
    assert_eq!(res.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_publisher_gets_409() {
    let relay = TestRelay::spawn().await;
    let slot = SlotId::new();
    let (_publisher, _location, _stop) = publish(&relay, slot).await;
    let mut second = Publisher::new().await;
    let offer = second.client.offer().await;
    let res = relay.post_offer("whip", slot, Some(&relay.token(slot, MediaGrant::Publish)), &offer).await;
    assert_eq!(res.status(), 409);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["code"], "slot_busy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_ends_the_publish_and_its_players() {
    let relay = TestRelay::spawn().await;
    let slot = SlotId::new();
    let (_publisher, location, _stop) = publish(&relay, slot).await;
    let (mut player, player_location) = play(&relay, slot).await;
    assert_eq!(player.receive(5, 15).await, 5);

    let token = relay.token(slot, MediaGrant::Publish);
    let res = relay.delete(&location, &token).await;
    assert_eq!(res.status(), 200);
    assert!(!relay.forwarder.is_publishing(slot));
    assert_eq!(relay.forwarder.stats().subscribers, 0, "players end with their publisher");
    assert!(eventually(5, || relay.events.all().contains(&(slot, false))).await, "the broker was told");
    // The player's resource is gone too, and a second DELETE finds nothing.
    assert_eq!(relay.delete(&player_location, &relay.token(slot, MediaGrant::Play)).await.status(), 404);
    assert_eq!(relay.delete(&location, &token).await.status(), 404);

    // Packets stop reaching the player (drain what was in flight first).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    while player.packets.try_recv().is_ok() {}
    assert_eq!(player.receive(1, 1).await, 0, "no packets after the publish ended");

    // The slot can be published again.
    let (_again, _, _stop2) = publish(&relay, slot).await;
    assert!(relay.forwarder.is_publishing(slot));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_can_leave_without_ending_the_publish() {
    let relay = TestRelay::spawn().await;
    let slot = SlotId::new();
    let (_publisher, _location, _stop) = publish(&relay, slot).await;
    let (_player, player_location) = play(&relay, slot).await;
    let res = relay.delete(&player_location, &relay.token(slot, MediaGrant::Play)).await;
    assert_eq!(res.status(), 200);
    assert!(relay.forwarder.is_publishing(slot));
    assert_eq!(relay.forwarder.stats().subscribers, 0);
    // Another slot's token cannot delete it.
    let res = relay.delete(&player_location, &relay.token(SlotId::new(), MediaGrant::Play)).await;
    assert_eq!(res.status(), 403);
}
