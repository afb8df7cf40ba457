//! WHEP session caps: per token, per user and per slot; a private room's play token holds one
//! session, whoever presents it.

use crate::helpers::{Player, Publisher, TestRelay};
use tandem_relay::forward::PlayLimits;
use tandem_shared::ids::{SlotId, UserId};
use tandem_shared::media_token::{MediaGrant, MediaScope};

async fn publish(relay: &TestRelay, slot: SlotId) -> (Publisher, tokio::sync::oneshot::Sender<()>) {
    let mut publisher = Publisher::new().await;
    let offer = publisher.client.offer().await;
    let res = relay.post_offer("whip", slot, Some(&relay.token(slot, MediaGrant::Publish)), &offer).await;
    assert_eq!(res.status(), 201);
    publisher.client.accept(res.text().await.expect("answer")).await;
    let stop = publisher.start_sending();
    (publisher, stop)
}

/// Try to play `slot` with `token`: the status, the error code, and the player and session
/// `Location` when it started.
async fn play(relay: &TestRelay, slot: SlotId, token: &str) -> (u16, String, Option<(Player, String)>) {
    let mut player = Player::new().await;
    let offer = player.client.offer().await;
    let res = relay.post_offer("whep", slot, Some(token), &offer).await;
    let status = res.status().as_u16();
    if status == 201 {
        let location = res.headers()["location"].to_str().expect("ascii").to_string();
        player.client.accept(res.text().await.expect("answer")).await;
        return (status, String::new(), Some((player, location)));
    }
    let body: serde_json::Value = res.json().await.expect("json error");
    (status, body["code"].as_str().unwrap_or_default().to_string(), None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_sessions_are_capped_per_token_per_user_and_per_slot() {
    let relay = TestRelay::spawn_with(PlayLimits { per_token: 2, per_user: 3, per_slot: 4 }).await;
    let slot = SlotId::new();
    let _publisher = publish(&relay, slot).await;
    let fan = UserId::new();
    let t1 = relay.user_token(slot, MediaGrant::Play, fan, MediaScope::Shared, 0);
    let mut held = Vec::new();
    for _ in 0..2 {
        let (status, _, p) = play(&relay, slot, &t1).await;
        assert_eq!(status, 201);
        held.push(p);
    }
    let (status, code, _) = play(&relay, slot, &t1).await;
    assert_eq!((status, code.as_str()), (429, "too_many_sessions"), "a third session of one token");

    // Another token of the same user: the per-user cap still counts.
    let t2 = relay.user_token(slot, MediaGrant::Play, fan, MediaScope::Shared, 0);
    let (status, _, p) = play(&relay, slot, &t2).await;
    assert_eq!(status, 201, "the user's third session");
    held.push(p);
    let t3 = relay.user_token(slot, MediaGrant::Play, fan, MediaScope::Shared, 0);
    let (status, code, _) = play(&relay, slot, &t3).await;
    assert_eq!((status, code.as_str()), (429, "too_many_sessions"), "a fourth session of one user");

    // Other users fill the slot up to its cap.
    let (status, _, p) = play(&relay, slot, &relay.token(slot, MediaGrant::Play)).await;
    assert_eq!(status, 201);
    held.push(p);
    let (status, code, _) = play(&relay, slot, &relay.token(slot, MediaGrant::Play)).await;
    assert_eq!((status, code.as_str()), (429, "too_many_sessions"), "a fifth session on the slot");
    assert_eq!(relay.forwarder.stats().subscribers, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_play_token_passed_on_opens_no_second_session() {
    let relay = TestRelay::spawn().await;
    let slot = SlotId::new();
    let _publisher = publish(&relay, slot).await;
    let fan = UserId::new();
    let token = relay.user_token(slot, MediaGrant::Play, fan, MediaScope::Exclusive, 0);
    let (status, _, first) = play(&relay, slot, &token).await;
    assert_eq!(status, 201, "the fan plays");
    // Someone the fan passed the token to: it still names the fan, who already plays.
    let (status, code, _) = play(&relay, slot, &token).await;
    assert_eq!((status, code.as_str()), (429, "too_many_sessions"));
    // Nor does a second token of the same fan open a second session of the private slot.
    let again = relay.user_token(slot, MediaGrant::Play, fan, MediaScope::Exclusive, 0);
    let (status, code, _) = play(&relay, slot, &again).await;
    assert_eq!((status, code.as_str()), (429, "too_many_sessions"));
    assert_eq!(relay.forwarder.stats().subscribers, 1);

    // Ending the session frees its place.
    let (_player, location) = first.expect("first session");
    assert_eq!(relay.delete(&location, &token).await.status(), 200);
    let (status, _, _) = play(&relay, slot, &token).await;
    assert_eq!(status, 201, "free again once the first session ended");
}
