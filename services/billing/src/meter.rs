//! Per-started-minute charging of private sessions.
//!
//! Minute `k` of a private room starts at `started_at + k` minutes (`started_at` is the room's
//! creation, given by the broker at start); it is charged when it starts, by one ledger transaction keyed
//! `private:<room>:<k>`. Minute 0 is charged when the creator accepts ([`Billing::settle`] from
//! the payment gate); later minutes by the meter's tick; any minute that started before the
//! room ended but was not charged yet, when the room ends.
//!
//! Several meters (nodes) may run at once and any may restart: each session is settled under
//! its row lock (`FOR UPDATE SKIP LOCKED` in the tick, so meters share the work), and even
//! without the lock the idempotency key would make a second charge of a minute a no-op. No
//! state lives in process memory, so a restarted meter simply continues from the database.
//!
//! Whether a room is still live, and when it ended, comes from the broker (it owns rooms)
//! through [`tandem_shared::hooks::RoomControl::room`], asked before each settlement: so a room
//! whose end billing was not told about is settled to its real end at its next due minute, and
//! a settlement that cannot reach the broker charges nothing and is retried by the next tick.
//! A room the broker opened without billing's confirmation is started again by the broker's
//! reaper (`start_private` is idempotent), never adopted here.
//!
//! When the wallet cannot cover the minute that just started, the session records
//! `end_requested = funds_exhausted` and the meter asks the broker (through
//! [`tandem_shared::hooks::RoomControl`]) to end the room, retrying each tick until it has.

use crate::error::BillingError;
use crate::ledger::{self, AccountKind, Posted, SpendError, TxKind};
use crate::Billing;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::Row;
use tandem_shared::events::{publish, user_channel, BusEvent};
use tandem_shared::ids::{RoomId, UserId};

/// Why a minute could not be charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The wallet does not cover the minute.
    InsufficientFunds {
        /// Price of the minute.
        needed: i64,
        /// Balance.
        available: i64,
    },
    /// The wallet is frozen.
    Frozen,
}

/// What settling one session did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SettleOutcome {
    /// Another meter holds the session right now (tick only).
    pub busy: bool,
    /// Minutes charged now.
    pub newly_charged: i32,
    /// Minutes charged in total.
    pub minutes_charged: i32,
    /// Set when the minute that started could not be charged.
    pub refusal: Option<Refusal>,
    /// The room is live and billing wants it ended (now or earlier).
    pub end_requested: bool,
    /// The session is closed (its room ended).
    pub closed: bool,
}

/// What one meter tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Sessions settled.
    pub settled: usize,
    /// Minutes charged.
    pub charged: i64,
    /// Rooms this tick asked the broker to end.
    pub ended: usize,
}

/// Minutes (of `minute_ms` each) of a session started at `start` that have started by `now`
/// (at least minute 0).
pub fn minutes_started(start: DateTime<Utc>, now: DateTime<Utc>, minute_ms: i64) -> i32 {
    let ms = (now - start).num_milliseconds().max(0);
    i32::try_from(ms / minute_ms.max(1) + 1).unwrap_or(i32::MAX)
}

/// Minutes (of `minute_ms` each) started strictly before a room that started at `start` ended
/// at `end` (at least 1).
pub fn minutes_before_end(start: DateTime<Utc>, end: DateTime<Utc>, minute_ms: i64) -> i32 {
    let ms = (end - start).num_milliseconds().max(0);
    let m = minute_ms.max(1);
    i32::try_from(((ms + m - 1) / m).max(1)).unwrap_or(i32::MAX)
}

impl Billing {
    /// Create the billing session of a private room (idempotent) at `price` per minute, the
    /// price the fan was quoted (not the creator's price now): it and the configured split are
    /// fixed for the session's whole duration.
    ///
    /// # Errors
    /// Database errors.
    pub async fn open_session(
        &self,
        room: RoomId,
        fan: UserId,
        creator: UserId,
        started: DateTime<Utc>,
        price: i64,
    ) -> Result<(), BillingError> {
        sqlx::query(
            "insert into private_sessions
                 (room_id, fan_id, creator_id, price_per_minute, currency, creator_share_bps, started_at, next_minute_at)
             values ($1, $2, $3, $4, $5, $6, $7, $7) on conflict (room_id) do nothing",
        )
        .bind(room)
        .bind(fan)
        .bind(creator)
        .bind(price)
        .bind(self.currency())
        .bind(i32::from(self.settings.creator_share_bps))
        .bind(started)
        .execute(&self.core.db)
        .await?;
        Ok(())
    }

    /// Charge every minute of `room` that has started and is not charged yet; close the session
    /// if the room has ended. `wait` waits for another meter's lock instead of skipping.
    ///
    /// # Errors
    /// 404 no session (with `wait`); 503 the broker cannot say whether the room is live;
    /// database errors (nothing is committed then).
    pub async fn settle(&self, room: RoomId, wait: bool) -> Result<SettleOutcome, BillingError> {
        // Ask the room's owner first, outside the transaction (no lock held across a call).
        let summary = self.room(room).await?;
        let now = self.clock.now();
        let mut tx = self.core.db.begin().await?;
        let lock = if wait { "for update" } else { "for update skip locked" };
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "select fan_id, creator_id, price_per_minute, creator_share_bps, started_at, minutes_charged,
                    low_balance_warned, end_requested, ended_at
             from private_sessions where room_id = $1 {lock}"
        )))
        .bind(room)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return if wait {
                Err(BillingError::NotFound("billing session"))
            } else {
                Ok(SettleOutcome { busy: true, ..Default::default() })
            };
        };
        let mut out = SettleOutcome { minutes_charged: row.get("minutes_charged"), ..Default::default() };
        if row.get::<Option<DateTime<Utc>>, _>("ended_at").is_some() {
            out.closed = true;
            return Ok(out);
        }
        let fan: UserId = row.get("fan_id");
        let creator: UserId = row.get("creator_id");
        let price: i64 = row.get("price_per_minute");
        let bps = u16::try_from(row.get::<i32, _>("creator_share_bps")).unwrap_or(0);
        let started: DateTime<Utc> = row.get("started_at");
        // A room the broker does not know (never written, or gone) counts as ended now.
        let live = summary.as_ref().is_some_and(|r| r.live);
        let room_ended_at: Option<DateTime<Utc>> = summary.as_ref().and_then(|r| r.ended_at);
        let mut end_requested: Option<String> = row.get("end_requested");
        let mut warned: bool = row.get("low_balance_warned");
        let minute_ms = self.settings.billing_minute.as_millis() as i64;
        let due = if live {
            minutes_started(started, now, minute_ms)
        } else {
            minutes_before_end(started, room_ended_at.unwrap_or(now).min(now), minute_ms)
        };
        // Once billing asked for the end, no further minute is charged.
        if end_requested.is_none() {
            for k in out.minutes_charged..due {
                if price > 0 {
                    let (creator_part, platform_part) = ledger::split(price, bps);
                    let spend = ledger::Spend {
                        key: format!("private:{room}:{k}"),
                        kind: TxKind::PrivateMinute,
                        fan,
                        creator,
                        room: Some(room),
                        amount: price,
                        creator_share_bps: bps,
                        memo: json!({"minute": k, "gross": price, "creator": creator_part, "fee": platform_part}),
                    };
                    match ledger::spend(&mut tx, self.currency(), &spend).await {
                        Ok(Posted::Applied(_)) => out.newly_charged += 1,
                        Ok(Posted::Duplicate) => {}
                        Err(SpendError::InsufficientFunds { needed, available }) => {
                            out.refusal = Some(Refusal::InsufficientFunds { needed, available });
                            break;
                        }
                        Err(SpendError::Frozen) => {
                            out.refusal = Some(Refusal::Frozen);
                            break;
                        }
                        Err(SpendError::Db(e)) => return Err(e.into()),
                    }
                }
                out.minutes_charged = k + 1;
            }
            if out.refusal.is_some() && live {
                end_requested = Some("funds_exhausted".into());
            }
        }
        let mut warn_balance = None;
        if live && price > 0 && out.refusal.is_none() && end_requested.is_none() {
            let balance = ledger::balance(&mut *tx, AccountKind::Wallet, fan, self.currency()).await?.balance;
            let low = balance < price.saturating_mul(2);
            if low && !warned {
                warn_balance = Some(balance);
            }
            warned = low;
        }
        out.end_requested = live && end_requested.is_some();
        out.closed = !live;
        sqlx::query(
            "update private_sessions set minutes_charged = $2,
                 next_minute_at = started_at + make_interval(secs => $2::double precision * $7),
                 low_balance_warned = $3, end_requested = $4,
                 ended_at = case when $5 then $6 else null end
             where room_id = $1",
        )
        .bind(room)
        .bind(out.minutes_charged)
        .bind(warned)
        .bind(&end_requested)
        .bind(!live)
        .bind(now)
        .bind(self.settings.billing_minute.as_secs_f64())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if out.newly_charged > 0 {
            metrics::counter!("billing_private_minutes_total").increment(out.newly_charged as u64);
        }
        if let Some(balance) = warn_balance {
            let notice = BusEvent::Notice {
                event: "billing.low_balance".into(),
                data: json!({
                    "room_id": room,
                    "balance": balance,
                    "price_per_minute": price,
                    "minutes_left": balance / price,
                    "currency": self.currency(),
                }),
            };
            if let Err(e) = publish(&self.core.redis, &user_channel(&self.core.redis, fan), &notice).await {
                tracing::warn!(%room, error.cause_chain = ?e, "failed to publish billing.low_balance");
            }
        }
        Ok(out)
    }

    /// Ask the broker to end `room` because the wallet ran out. Returns whether a broker is
    /// installed to ask; the request is retried by every tick until the room has ended.
    async fn request_end(&self, room: RoomId) -> bool {
        let Some(rooms) = self.core.hooks.rooms() else {
            tracing::error!(%room, "funds exhausted but no room control is installed in this process (run billing with the broker)");
            return false;
        };
        match rooms.end_room(room, "funds_exhausted").await {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(%room, error.cause_chain = ?e, "failed to end a room whose funds are exhausted; retrying next tick");
                false
            }
        }
    }

    /// One pass of the meter: settle every open session with a minute due or that waits for
    /// its room to end.
    ///
    /// # Errors
    /// The queries listing work failed (errors of single sessions are logged and retried).
    pub async fn meter_tick(&self) -> anyhow::Result<TickReport> {
        let now = self.clock.now();
        let mut report = TickReport::default();
        let due: Vec<RoomId> = sqlx::query_scalar(
            "select room_id from private_sessions
             where ended_at is null and (next_minute_at <= $1 or end_requested is not null)
             order by next_minute_at limit 1000",
        )
        .bind(now)
        .fetch_all(&self.core.db)
        .await?;
        for room in due {
            match self.settle(room, false).await {
                Ok(out) if out.busy => {}
                Ok(out) => {
                    report.settled += 1;
                    report.charged += i64::from(out.newly_charged);
                    if out.end_requested && self.request_end(room).await {
                        report.ended += 1;
                    }
                }
                Err(e) => tracing::error!(%room, error.cause_chain = ?e, "failed to settle a private session"),
            }
        }
        Ok(report)
    }
}

/// Run the meter every `TANDEM_METER_INTERVAL_MS` until `core.shutdown`.
pub fn spawn(billing: Billing) {
    let interval = billing.settings.meter_interval;
    let shutdown = billing.core.shutdown.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticker.tick() => {
                    if let Err(e) = billing.meter_tick().await {
                        tracing::error!(error.cause_chain = ?e, "meter tick failed");
                    }
                }
            }
        }
        tracing::debug!("meter stopped");
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn minutes_are_counted_per_started_minute() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).single().expect("valid time");
        let s = chrono::Duration::seconds;
        let m = 60_000;
        assert_eq!(minutes_started(t0, t0, m), 1);
        assert_eq!(minutes_started(t0, t0 - s(5), m), 1);
        assert_eq!(minutes_started(t0, t0 + s(59), m), 1);
        assert_eq!(minutes_started(t0, t0 + s(60), m), 2);
        assert_eq!(minutes_started(t0, t0 + s(190), m), 4);
        // 3 min 10 s bills as 4 minutes; ending exactly at a boundary does not start the next.
        assert_eq!(minutes_before_end(t0, t0 + s(190), m), 4);
        assert_eq!(minutes_before_end(t0, t0 + s(180), m), 3);
        assert_eq!(minutes_before_end(t0, t0, m), 1);
        // A 20-second billing minute (development and tests).
        assert_eq!(minutes_started(t0, t0 + s(45), 20_000), 3);
        assert_eq!(minutes_before_end(t0, t0 + s(40), 20_000), 2);
    }
}
