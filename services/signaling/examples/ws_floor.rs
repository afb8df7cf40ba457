//! The memory floor of an idle actix-ws socket: a server whose handler only holds the socket.
//! Run it, point `sigbench` at it (`SIG_A=127.0.0.1:18083 SIG_A_PID=<pid> OFFERS=0`), and compare
//! with a signaling node to see what signaling itself adds per socket.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

async fn ws(req: HttpRequest, body: web::Payload) -> actix_web::Result<HttpResponse> {
    let (res, mut session, stream) = actix_ws::handle(&req, body)?;
    actix_web::rt::spawn(async move {
        let mut stream = stream.max_frame_size(64 * 1024).aggregate_continuations();
        let _ = session.text("{\"type\":\"welcome\"}").await;
        while let Some(Ok(_)) = stream.recv().await {}
    });
    Ok(res)
}

/// The same with tokio-tungstenite and 4 KiB read buffers (`FLOOR_KIND=tungstenite`).
async fn tungstenite(addr: String) -> std::io::Result<()> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    loop {
        let (tcp, _) = listener.accept().await?;
        tokio::spawn(async move {
            let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
            let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await else { return };
            let _ = ws.send(tokio_tungstenite::tungstenite::Message::text("{\"type\":\"welcome\"}")).await;
            while let Some(Ok(_)) = ws.next().await {}
        });
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("FLOOR_ADDR").unwrap_or_else(|_| "127.0.0.1:18083".into());
    if std::env::var("FLOOR_KIND").as_deref() == Ok("tungstenite") {
        return tungstenite(addr).await;
    }
    HttpServer::new(|| App::new().route("/v1/ws", web::get().to(ws))).workers(2).bind(addr)?.run().await
}
