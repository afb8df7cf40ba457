//! `churn`: private sessions opened (request + accept) and ended at a fixed rate over HTTP —
//! the brokering path with Postgres persistence. Each pair plays its sessions one after
//! another (a creator is in one private room at a time); the rate is spread over pairs.

use super::Ctx;
use crate::accounts::{Pair, SEED_PASSWORD};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Run the churn for `args.duration` at `args.rate` sessions per second (over all shards).
///
/// # Errors
/// Never for a session failure (those are counted).
pub async fn run(ctx: Arc<Ctx>, pairs: Vec<(usize, Pair)>) -> anyhow::Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    // Sign everyone in first; not part of the measured rate.
    let mut signed = Vec::new();
    for (i, pair) in pairs {
        let (ci, fi) = (2 * i, 2 * i + 1);
        let (ct, _) = ctx.target(ci).clone();
        let (ft, _) = ctx.target(fi).clone();
        let ch = ctx.source(ci).1.clone();
        let fh = ctx.source(fi).1.clone();
        let c = ctx.timed("login", crate::api::login(&ch, &ct, &pair.creator.email, SEED_PASSWORD)).await;
        let f = ctx.timed("login", crate::api::login(&fh, &ft, &pair.fan.email, SEED_PASSWORD)).await;
        if let (Ok(c), Ok(f)) = (c, f) {
            let _ = crate::api::call(
                &ch,
                "PUT",
                &format!("{ct}/v1/presence"),
                Some(&c.access_token),
                Some(json!({"status": "online"})),
            )
            .await;
            signed.push((c, f, ct, ft, ch, fh));
        }
    }
    let n = signed.len().max(1);
    let shards = (ctx.total as f64 / n as f64).max(1.0);
    let per_pair_interval = Duration::from_secs_f64(n as f64 * shards / ctx.args.rate.max(0.1));
    let start = Instant::now();
    let end = start + ctx.args.duration;
    let mut tasks = Vec::new();
    for (k, (mut c, mut f, ct, ft, ch, fh)) in signed.into_iter().enumerate() {
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            // Stagger pairs evenly over one interval.
            let mut next = start + per_pair_interval.mul_f64(k as f64 / n as f64);
            while next < end {
                tokio::time::sleep_until(next.into()).await;
                next += per_pair_interval;
                let renewed = async {
                    crate::api::renew_if_old(&ch, &ct, &mut c).await?;
                    crate::api::renew_if_old(&fh, &ft, &mut f).await
                };
                if ctx.timed("token_refresh", renewed).await.is_err() {
                    ctx.rec.count("sessions_failed", 1);
                    continue;
                }
                ctx.rec.gauge_add("sessions", 1);
                let r = one(&ctx, &c, &f, &ct, &ft, &ch, &fh).await;
                ctx.rec.gauge_add("sessions", -1);
                match r {
                    Ok(()) => ctx.rec.count("sessions_completed", 1),
                    Err(_) => ctx.rec.count("sessions_failed", 1),
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

async fn one(
    ctx: &Ctx,
    c: &crate::api::Session,
    f: &crate::api::Session,
    ct: &str,
    ft: &str,
    ch: &reqwest::Client,
    fh: &reqwest::Client,
) -> anyhow::Result<()> {
    let call = crate::api::call;
    let t = Instant::now();
    let req = ctx
        .timed(
            "private_request",
            call(
                fh,
                "POST",
                &format!("{ft}/v1/private-requests"),
                Some(&f.access_token),
                Some(json!({"creator_id": c.user_id})),
            ),
        )
        .await?;
    let id = req["id"].as_str().unwrap_or_default();
    let acc = ctx
        .timed(
            "private_accept",
            call(ch, "POST", &format!("{ct}/v1/private-requests/{id}/accept"), Some(&c.access_token), None),
        )
        .await?;
    ctx.rec.latency("session_open", t.elapsed());
    let room = acc["room"]["id"].as_str().unwrap_or_default();
    ctx.timed("room_end", call(ch, "POST", &format!("{ct}/v1/rooms/{room}/end"), Some(&c.access_token), None)).await?;
    ctx.rec.latency("session_open_end", t.elapsed());
    Ok(())
}
