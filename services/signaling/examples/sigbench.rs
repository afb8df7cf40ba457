//! Measure a running pair of signaling nodes from outside: memory per idle socket and relay
//! latency of `offer` between two nodes. Not a test (timings depend on the machine).
//!
//! ```sh
//! # two nodes on one database and Redis prefix, then:
//! SIG_A=127.0.0.1:18081 SIG_B=127.0.0.1:18082 SIG_A_PID=<pid> SOCKETS=5000 OFFERS=2000 \
//!   TANDEM_DATA_DIR=<the nodes' data dir> cargo run -p tandem-signaling --example sigbench
//! ```

use futures_util::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tandem_shared::config::CoreSettings;
use tandem_shared::ids::{Role, RoomId, UserId};
use tandem_shared::jwt::{KeyPair, Tokens};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

fn rss_kib(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(addr: &str, token: &str) -> Ws {
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let url = format!("ws://{addr}/v1/ws?access_token={token}");
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true).await.expect("connect");
    let _welcome = ws.next().await;
    ws
}

async fn until(ws: &mut Ws, kind: &str) -> serde_json::Value {
    loop {
        if let Some(Ok(Message::Text(t))) = ws.next().await {
            let v: serde_json::Value = serde_json::from_str(&t).expect("json");
            if v["type"] == kind {
                return v;
            }
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = std::env::var("SIG_A").unwrap_or_else(|_| "127.0.0.1:18081".into());
    let b = std::env::var("SIG_B").unwrap_or_else(|_| "127.0.0.1:18082".into());
    let sockets: usize = std::env::var("SOCKETS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let offers: usize = std::env::var("OFFERS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let settings = CoreSettings::from_env()?;
    let tokens = Tokens::new(KeyPair::load_or_generate(&settings)?, &settings.jwt_issuer, &settings.jwt_audience);

    // Memory per idle socket on node A.
    if let Ok(pid) = std::env::var("SIG_A_PID") {
        let (token, _) = tokens.issue(UserId::new(), Role::Fan)?;
        let before = rss_kib(&pid);
        let mut held = Vec::with_capacity(sockets);
        for _ in 0..sockets {
            held.push(connect(&a, &token).await);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = rss_kib(&pid);
        println!(
            "idle sockets: {sockets}, node RSS {before} KiB -> {after} KiB, {:.2} KiB per socket",
            (after.saturating_sub(before)) as f64 / sockets as f64
        );
        drop(held);
    }

    if offers == 0 {
        return Ok(());
    }
    // Relay latency: fan on A offers to the creator on B, one at a time. The pair and its
    // private room are made through the public API, as clients do (the nodes run `tandem serve`).
    let http = reqwest::Client::new();
    let base = format!("http://{a}");
    let mut users = Vec::new();
    for role in ["creator", "fan"] {
        let handle = format!("b{}", &UserId::new().to_string().replace('-', "")[..12]);
        let body = serde_json::json!({"email": format!("{handle}@example.com"), "password": "sigbench password", "handle": handle, "role": role});
        let v: serde_json::Value =
            http.post(format!("{base}/v1/auth/signup")).json(&body).send().await?.error_for_status()?.json().await?;
        let id: UserId = v["user"]["user_id"].as_str().unwrap_or_default().parse()?;
        users.push((id, v["access_token"].as_str().unwrap_or_default().to_string()));
    }
    let ((creator, creator_token), (_fan, fan_token)) = (users[0].clone(), users[1].clone());
    http.put(format!("{base}/v1/presence"))
        .bearer_auth(&creator_token)
        .json(&serde_json::json!({"status": "online"}))
        .send()
        .await?
        .error_for_status()?;
    let req: serde_json::Value = http
        .post(format!("{base}/v1/private-requests"))
        .bearer_auth(&fan_token)
        .json(&serde_json::json!({"creator_id": creator, "media": "p2p"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let accepted: serde_json::Value = http
        .post(format!("{base}/v1/private-requests/{}/accept", req["id"].as_str().unwrap_or_default()))
        .bearer_auth(&creator_token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let room: RoomId = accepted["room"]["id"].as_str().unwrap_or_default().parse()?;
    let mut f = connect(&a, &fan_token).await;
    let mut k = connect(&b, &creator_token).await;
    for ws in [&mut f, &mut k] {
        ws.send(Message::text(serde_json::json!({"type":"join","request_id":"j","room_id":room}).to_string())).await?;
        until(ws, "ack").await;
    }
    let sdp = format!("v=0\r\n{}", "a=x\r\n".repeat(600));
    let mut lat = Vec::with_capacity(offers);
    for i in 0..offers {
        let msg = serde_json::json!({"type":"offer","request_id":format!("o{i}"),"to":creator,"sdp":sdp}).to_string();
        let t0 = Instant::now();
        f.send(Message::text(msg)).await?;
        until(&mut k, "offer").await;
        lat.push(t0.elapsed());
        until(&mut f, "ack").await;
    }
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "offer relay A->B ({} bytes SDP, {offers} sequential): p50 {:?} p99 {:?} max {:?}",
        sdp.len(),
        pct(0.50),
        pct(0.99),
        lat[lat.len() - 1]
    );
    Ok(())
}
