use crate::helpers::{Client, Cluster};
use futures_util::StreamExt;
use tandem_shared::ids::Role;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn a_draining_node_tells_clients_to_reconnect_and_refuses_new_sockets() {
    let c = Cluster::new().await;
    let (_, token) = c.user(Role::Fan).await;
    let mut on_b = Client::connect(&c.b.ws_url(&token, "")).await;
    let mut on_a = Client::connect(&c.a.ws_url(&token, "")).await;

    c.b.core.shutdown.cancel();
    let ev = on_b.next_event().await;
    assert_eq!(ev["type"], "reconnect");
    assert_eq!(ev["reason"], "draining");
    loop {
        match tokio::time::timeout(crate::helpers::DEADLINE, on_b.ws.next()).await.expect("closed in time") {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 1012);
                break;
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
    match tokio_tungstenite::connect_async(c.b.ws_url(&token, "")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 503),
        other => panic!("a draining node took a socket: {:?}", other.map(|_| ())),
    }
    // The other node is unaffected.
    on_a.ok(serde_json::json!({"type": "leave"})).await;
}
