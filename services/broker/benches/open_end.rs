//! Room open → end throughput with the `relay` provider, over HTTP, against real PostgreSQL and
//! Redis (the same per-run database and Redis prefix as the tests, removed afterwards).
//!
//! `cargo bench -p tandem-broker --bench open_end` — knobs: `BENCH_ROOMS` (default 2000),
//! `BENCH_CONCURRENCY` (default 32), `BENCH_WORKERS` (actix workers, default 2).
//! Prints rooms/s and p50/p99 of open, end, and open+end.

use hdrhistogram::Histogram;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tandem_broker::BrokerSettings;
use tandem_shared::ids::Role;
use tandem_shared::jwt::KeyPair;
use tandem_shared::media_token::MediaKey;
use tandem_shared::server::{build_server, Core};
use tandem_shared::testing::TestCore;
use tokio::sync::Mutex;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let rooms = env_usize("BENCH_ROOMS", 2000);
    let concurrency = env_usize("BENCH_CONCURRENCY", 32);
    let workers = env_usize("BENCH_WORKERS", 2);

    let t = TestCore::new().await;
    let mut settings = TestCore::settings(&t.database_url, t.core.redis.prefix());
    settings.workers = Some(workers);
    settings.db_max_connections = 20;
    let db = tandem_shared::db::connect_and_migrate(&t.database_url, 20).await.expect("pool");
    let core = Core::from_parts(settings, db, t.core.redis.clone(), KeyPair::generate());
    core.hooks.set_users(Arc::new(tandem_auth::directory::Directory::new(core.db.clone())));
    let svc =
        tandem_broker::build(&core, BrokerSettings::relay_defaults(), MediaKey::generate(), false).expect("broker");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = build_server(listener, core.clone(), vec![Arc::new(svc)]).expect("server");
    let handle = server.handle();
    tokio::spawn(server);

    // One creator per concurrent worker: a creator hosts one live room at a time.
    let mut tokens = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        // The user row is test support's (auth's table); the broker's node signs with its own key.
        let id = t.user(Role::Creator).await.id;
        tokens.push(core.tokens.issue(id, Role::Creator).expect("token").0);
    }

    let http = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().expect("client");
    let new_hist = || Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    let hists = Arc::new(Mutex::new((new_hist(), new_hist(), new_hist())));
    let per_worker = rooms / concurrency;
    let base = format!("http://{addr}");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for token in tokens {
        let (http, hists, base) = (http.clone(), hists.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let (mut open_h, mut end_h, mut pair_h) = (new_hist(), new_hist(), new_hist());
            for _ in 0..per_worker {
                let t0 = Instant::now();
                let res = http
                    .post(format!("{base}/v1/rooms"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"title": "bench"}))
                    .send()
                    .await
                    .expect("open sent");
                assert_eq!(res.status(), 201, "open");
                let room: serde_json::Value = res.json().await.expect("room json");
                let t1 = Instant::now();
                let id = room["id"].as_str().expect("room id");
                let res =
                    http.post(format!("{base}/v1/rooms/{id}/end")).bearer_auth(&token).send().await.expect("end sent");
                assert_eq!(res.status(), 200, "end");
                let t2 = Instant::now();
                open_h.record((t1 - t0).as_micros() as u64).ok();
                end_h.record((t2 - t1).as_micros() as u64).ok();
                pair_h.record((t2 - t0).as_micros() as u64).ok();
            }
            let mut h = hists.lock().await;
            h.0.add(&open_h).ok();
            h.1.add(&end_h).ok();
            h.2.add(&pair_h).ok();
        }));
    }
    for task in tasks {
        task.await.expect("worker");
    }
    let elapsed = started.elapsed();
    let done = per_worker * concurrency;
    let h = hists.lock().await;
    let ms = |h: &Histogram<u64>, q: f64| Duration::from_micros(h.value_at_quantile(q)).as_secs_f64() * 1000.0;
    println!(
        "broker open→end (relay provider): {done} rooms, concurrency {concurrency}, {workers} workers, {:.1} s",
        elapsed.as_secs_f64()
    );
    println!("  throughput: {:.0} rooms/s (open + end)", done as f64 / elapsed.as_secs_f64());
    for (name, hist) in [("open", &h.0), ("end", &h.1), ("open+end", &h.2)] {
        println!("  {name:>9}: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms", ms(hist, 0.5), ms(hist, 0.99), ms(hist, 1.0));
    }
    handle.stop(true).await;
    core.shutdown.cancel();
}
