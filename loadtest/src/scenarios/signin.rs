//! `signin`: password sign-ins at a fixed open-loop rate (`--rate` per second over all shards)
//! for `--duration`, each with a client that waits at most [`PATIENCE`]. Under more sign-ins than
//! the node can hash, it should shed the excess at once (`503 overloaded` with `Retry-After`)
//! instead of queueing them past the client's patience. Counted: `signin_ok`, `signin_shed`
//! (503, with `signin_shed_without_retry_after` if the header was missing), `signin_refused`
//! (401/429), `signin_timeout` (no answer within the patience) and `signin_failed` (anything
//! else); latencies `signin` (every answer) and `signin_ok`. Each successful sign-in then
//! renews its session once with the refresh token, as a reconnecting client does (never the
//! password again): latency `signin_refresh`.

use super::Ctx;
use crate::accounts::{Pair, SEED_PASSWORD};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a client waits for a sign-in answer.
pub const PATIENCE: Duration = Duration::from_secs(2);

/// Run the sign-ins of this shard's accounts (creators and fans of `pairs`, round-robin).
///
/// # Errors
/// Never for a sign-in failure (those are counted).
pub async fn run(ctx: Arc<Ctx>, pairs: Vec<(usize, Pair)>) -> anyhow::Result<()> {
    let accounts: Vec<(usize, String)> =
        pairs.into_iter().flat_map(|(i, p)| [(2 * i, p.creator.email), (2 * i + 1, p.fan.email)]).collect();
    if accounts.is_empty() {
        return Ok(());
    }
    let shards = (ctx.total as f64 * 2.0 / accounts.len() as f64).max(1.0);
    let interval = Duration::from_secs_f64(shards / ctx.args.rate.max(0.1));
    let start = Instant::now();
    let end = start + ctx.args.duration;
    let mut next = start;
    let mut k = 0usize;
    let mut tasks = Vec::new();
    while next < end {
        tokio::time::sleep_until(next.into()).await;
        next += interval;
        let (user, email) = accounts[k % accounts.len()].clone();
        k += 1;
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move { one(&ctx, user, &email).await }));
    }
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

async fn one(ctx: &Ctx, user: usize, email: &str) {
    let (target, _) = ctx.target(user).clone();
    let http = ctx.source(user).1.clone();
    let t = Instant::now();
    let res = http
        .post(format!("{target}/v1/auth/login"))
        .timeout(PATIENCE)
        .json(&json!({"email": email, "password": SEED_PASSWORD}))
        .send()
        .await;
    let res = match res {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            ctx.rec.count("signin_timeout", 1);
            return;
        }
        Err(_) => {
            ctx.rec.count("signin_failed", 1);
            return;
        }
    };
    let status = res.status().as_u16();
    let retry_after = res.headers().contains_key("retry-after");
    let body: Option<Value> = res.json().await.ok();
    ctx.rec.latency("signin", t.elapsed());
    match status {
        200 => {
            ctx.rec.count("signin_ok", 1);
            ctx.rec.latency("signin_ok", t.elapsed());
            let refresh = body.as_ref().and_then(|b| b["refresh_token"].as_str()).unwrap_or_default().to_string();
            let r = ctx
                .timed(
                    "signin_refresh",
                    crate::api::call(
                        &http,
                        "POST",
                        &format!("{target}/v1/auth/refresh"),
                        None,
                        Some(json!({"refresh_token": refresh})),
                    ),
                )
                .await;
            if r.is_err() {
                ctx.rec.count("signin_refresh_failed", 1);
            }
        }
        503 => {
            ctx.rec.count("signin_shed", 1);
            if !retry_after {
                ctx.rec.count("signin_shed_without_retry_after", 1);
            }
        }
        401 | 429 => ctx.rec.count("signin_refused", 1),
        _ => ctx.rec.count("signin_failed", 1),
    }
}
