use crate::helpers::{settings, Client, Cluster, DEADLINE};
use futures_util::StreamExt;
use serde_json::json;
use std::time::Instant;
use tandem_shared::events::{publish, room_channel, BusEvent};
use tandem_shared::ids::Role;
use tandem_signaling::SignalingSettings;

#[tokio::test]
async fn a_slow_consumer_is_cut_off_while_the_others_keep_receiving() {
    let small_queue = SignalingSettings { queue_len: 8, ..settings("node-a") };
    let c = Cluster::with(small_queue, settings("node-b")).await;
    let (host, _) = c.user(Role::Creator).await;
    let room = c.room("broadcast", host, None).await;
    let (_, slow_token) = c.user(Role::Fan).await;
    let (_, healthy_token) = c.user(Role::Fan).await;
    let (_, remote_token) = c.user(Role::Fan).await;
    let mut slow = Client::connect(&c.a.ws_url(&slow_token, "")).await;
    let mut healthy = Client::connect(&c.a.ws_url(&healthy_token, "")).await;
    let mut remote = Client::connect(&c.b.ws_url(&remote_token, "")).await;
    slow.join(room).await;
    healthy.join(room).await;
    remote.join(room).await;
    let hub = c.a.service.node().hub.clone();
    assert_eq!(hub.len(), 2);

    // The slow client stops reading; 32 KiB events fill its socket buffers, then its queue.
    let pad = "x".repeat(32 * 1024);
    let channel = room_channel(&c.a.core.redis, room);
    let mut sent = 0;
    while hub.len() == 2 {
        assert!(sent < 2000, "the slow consumer was never cut off");
        let ev = BusEvent::Notice { event: "load".into(), data: json!({ "i": sent, "pad": pad }) };
        publish(&c.a.core.redis, &channel, &ev).await.unwrap();
        for client in [&mut healthy, &mut remote] {
            let got = client.event_of("notice").await;
            assert_eq!(got["data"]["i"], sent, "in order, none lost");
        }
        sent += 1;
    }

    // The others keep receiving.
    let ev = BusEvent::Notice { event: "after".into(), data: json!({}) };
    publish(&c.a.core.redis, &channel, &ev).await.unwrap();
    assert_eq!(healthy.event_of("notice").await["event"], "after");
    assert_eq!(remote.event_of("notice").await["event"], "after");

    // The slow socket ends (after whatever was already in flight).
    let started = Instant::now();
    let mut received = 0;
    loop {
        assert!(started.elapsed() < DEADLINE * 3, "the slow socket was not closed");
        match tokio::time::timeout(DEADLINE, slow.ws.next()).await.expect("frame or end") {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(_))) => received += 1,
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => {}
        }
    }
    assert!(received < sent + 4, "the slow socket got {received} of {sent}");
}
