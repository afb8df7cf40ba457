//! Creator earnings (by day and by room), payout requests with a holding period, and their
//! execution by an operator.
//!
//! A payout request reserves nothing in the ledger; it is checked against the earnings balance
//! minus other open requests, under the earnings account's row lock. Executing one (operator,
//! after `available_at`) posts `earnings → stripe_clearing`, keyed `payout:<id>`, and marks it
//! paid. Sending the money through Stripe Connect is deliberately not done here: the operator
//! step records that the transfer is made (see docs/billing.md).

use crate::error::BillingError;
use crate::ledger::{self, AccountKind, Posting, SpendError, TxKind};
use crate::Billing;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;
use tandem_shared::ids::UserId;
use uuid::Uuid;

/// Earnings of one day (UTC).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DayEarnings {
    /// The day.
    pub day: NaiveDate,
    /// Fans paid (before the platform fee).
    pub gross: i64,
    /// The creator's share.
    pub earned: i64,
    /// Private minutes charged.
    pub private_minutes: i64,
    /// Tips received.
    pub tips: i64,
}

/// Earnings of one room.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RoomEarnings {
    /// The room.
    pub room_id: Uuid,
    /// Fans paid (before the platform fee).
    pub gross: i64,
    /// The creator's share.
    pub earned: i64,
    /// Private minutes charged.
    pub private_minutes: i64,
    /// Tips received.
    pub tips: i64,
    /// Last money movement in the room.
    pub last_at: DateTime<Utc>,
}

/// A creator's earnings report.
#[derive(Debug, Clone, Serialize)]
pub struct Earnings {
    /// Currency.
    pub currency: &'static str,
    /// Earnings balance (not paid out).
    pub balance: i64,
    /// Requested, not yet executed payouts.
    pub pending_payouts: i64,
    /// What a new payout request may ask for.
    pub available: i64,
    /// Creator's share in basis points for new sessions and tips.
    pub creator_share_bps: u16,
    /// Last 90 days with activity, newest first.
    pub by_day: Vec<DayEarnings>,
    /// Last 50 rooms with activity, newest first.
    pub by_room: Vec<RoomEarnings>,
}

/// A payout request.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Payout {
    /// Id.
    pub payout_id: Uuid,
    /// Creator.
    pub creator_id: UserId,
    /// Minor units.
    pub amount: i64,
    /// Currency.
    pub currency: String,
    /// `requested`, `paid` or `cancelled`.
    pub status: String,
    /// When requested.
    pub requested_at: DateTime<Utc>,
    /// When the holding period ends.
    pub available_at: DateTime<Utc>,
    /// When an operator executed it.
    pub executed_at: Option<DateTime<Utc>>,
}

const EARNINGS_SUMS: &str = "coalesce(sum((t.memo->>'gross')::bigint), 0)::bigint as gross,
    coalesce(sum(e.amount), 0)::bigint as earned,
    count(*) filter (where t.kind = 'private_minute') as private_minutes,
    count(*) filter (where t.kind = 'tip') as tips";

impl Billing {
    /// Earnings of `creator`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn earnings(&self, creator: UserId) -> Result<Earnings, BillingError> {
        let db = &self.core.db;
        let currency = self.currency();
        let balance = ledger::balance(db, AccountKind::Earnings, creator, currency).await?.balance;
        let pending = self.pending_payouts(db, creator).await?;
        let from = "from ledger_accounts a
             join ledger_entries e on e.account_id = a.account_id
             join ledger_transactions t on t.transaction_id = e.transaction_id
             where a.kind = 'earnings' and a.user_id = $1 and a.currency = $2 and t.kind in ('private_minute', 'tip')";
        let by_day = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select (t.created_at at time zone 'utc')::date as day, {EARNINGS_SUMS} {from}
             group by 1 order by 1 desc limit 90"
        )))
        .bind(creator)
        .bind(currency)
        .fetch_all(db)
        .await?;
        let by_room = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select t.room_id, {EARNINGS_SUMS}, max(t.created_at) as last_at {from} and t.room_id is not null
             group by t.room_id order by last_at desc limit 50"
        )))
        .bind(creator)
        .bind(currency)
        .fetch_all(db)
        .await?;
        Ok(Earnings {
            currency,
            balance,
            pending_payouts: pending,
            available: (balance - pending).max(0),
            creator_share_bps: self.settings.creator_share_bps,
            by_day,
            by_room,
        })
    }

    async fn pending_payouts(&self, db: impl sqlx::PgExecutor<'_>, creator: UserId) -> sqlx::Result<i64> {
        sqlx::query_scalar(
            "select coalesce(sum(amount), 0)::bigint from payout_requests where creator_id = $1 and currency = $2 and status = 'requested'",
        )
        .bind(creator)
        .bind(self.currency())
        .fetch_one(db)
        .await
    }

    /// Request a payout of `amount`; it can be executed once the holding period has passed.
    ///
    /// # Errors
    /// 400 below the minimum; 409 `insufficient_earnings`.
    pub async fn request_payout(&self, creator: UserId, amount: i64) -> Result<Payout, BillingError> {
        if amount < self.settings.payout_min {
            return Err(BillingError::Validation(format!("a payout must be at least {}", self.settings.payout_min)));
        }
        let mut tx = self.core.db.begin().await?;
        let account = ledger::account(&mut tx, AccountKind::Earnings, Some(creator), self.currency()).await?;
        // The earnings row lock serializes requests (and executions) of one creator.
        let balance: i64 = sqlx::query_scalar("select balance from ledger_accounts where account_id = $1 for update")
            .bind(account)
            .fetch_one(&mut *tx)
            .await?;
        let pending = self.pending_payouts(&mut *tx, creator).await?;
        if amount > balance - pending {
            return Err(BillingError::conflict(
                "insufficient_earnings",
                format!("{} is available for payout", (balance - pending).max(0)),
            ));
        }
        let now = self.clock.now();
        let hold = chrono::Duration::from_std(self.settings.payout_hold).unwrap_or_default();
        let payout = sqlx::query_as(
            "insert into payout_requests (payout_id, creator_id, amount, currency, requested_at, available_at)
             values ($1, $2, $3, $4, $5, $6)
             returning payout_id, creator_id, amount, currency, status, requested_at, available_at, executed_at",
        )
        .bind(Uuid::new_v4())
        .bind(creator)
        .bind(amount)
        .bind(self.currency())
        .bind(now)
        .bind(now + hold)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(payout)
    }

    /// Payouts of one creator (newest first), or every open request when `creator` is `None`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn payouts(&self, creator: Option<UserId>) -> Result<Vec<Payout>, BillingError> {
        let rows = sqlx::query_as(
            "select payout_id, creator_id, amount, currency, status, requested_at, available_at, executed_at
             from payout_requests where ($1::uuid is null and status = 'requested') or creator_id = $1
             order by requested_at desc limit 200",
        )
        .bind(creator)
        .fetch_all(&self.core.db)
        .await?;
        Ok(rows)
    }

    /// Execute a payout request (operator): debit the creator's earnings, mark it paid.
    /// Executing a paid payout again returns it unchanged.
    ///
    /// # Errors
    /// 404 unknown; 409 `payout_on_hold` before `available_at`, `payout_cancelled`,
    /// `insufficient_earnings`.
    pub async fn execute_payout(&self, payout_id: Uuid, operator: UserId) -> Result<Payout, BillingError> {
        let mut tx = self.core.db.begin().await?;
        let payout: Payout = sqlx::query_as(
            "select payout_id, creator_id, amount, currency, status, requested_at, available_at, executed_at
             from payout_requests where payout_id = $1 for update",
        )
        .bind(payout_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(BillingError::NotFound("payout"))?;
        match payout.status.as_str() {
            "paid" => return Ok(payout),
            "cancelled" => return Err(BillingError::conflict("payout_cancelled", "the payout was cancelled")),
            _ => {}
        }
        if payout.available_at > self.clock.now() {
            return Err(BillingError::conflict(
                "payout_on_hold",
                format!("the holding period ends at {}", payout.available_at.to_rfc3339()),
            ));
        }
        let currency = self.currency();
        let earnings = ledger::account(&mut tx, AccountKind::Earnings, Some(payout.creator_id), currency).await?;
        let clearing = ledger::account(&mut tx, AccountKind::StripeClearing, None, currency).await?;
        let posting = Posting {
            key: format!("payout:{payout_id}"),
            kind: TxKind::Payout,
            currency,
            room_id: None,
            fan_id: None,
            creator_id: Some(payout.creator_id),
            memo: json!({"payout_id": payout_id, "executed_by": operator}),
            legs: vec![(earnings, -payout.amount), (clearing, payout.amount)],
            payer: Some(earnings),
            forced: false,
        };
        match ledger::post(&mut tx, &posting).await {
            Ok(_) => {}
            Err(SpendError::InsufficientFunds { available, .. }) => {
                return Err(BillingError::conflict(
                    "insufficient_earnings",
                    format!("the earnings balance ({available}) no longer covers this payout"),
                ))
            }
            Err(e) => return Err(e.into()),
        }
        let paid = sqlx::query_as(
            "update payout_requests set status = 'paid', executed_at = $2, executed_by = $3 where payout_id = $1
             returning payout_id, creator_id, amount, currency, status, requested_at, available_at, executed_at",
        )
        .bind(payout_id)
        .bind(self.clock.now())
        .bind(operator)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(paid)
    }
}
