//! Creator earnings (by day and by room), payout requests with a holding period, creators'
//! Stripe connected accounts, and payout execution by an operator through Stripe Connect.
//!
//! A payout request reserves nothing in the ledger; it is checked against the earnings balance
//! minus other open requests, under the earnings account's row lock. Executing one (operator,
//! after `available_at`) locks the request row, sends a Stripe Transfer to the creator's
//! connected account (idempotency key derived from the payout id) and only when Stripe accepts
//! it posts `earnings → stripe_clearing`, keyed `payout:<id>`, and marks the request paid with the
//! transfer id, in the same database transaction. A failed transfer leaves the request
//! `requested` with its error recorded; executing it again retries with the same key.

use crate::connect::{ConnectedAccountId, TransferError};
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
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Payout {
    /// Id.
    pub payout_id: Uuid,
    /// Creator.
    #[schema(value_type = String, format = Uuid)]
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
    /// Connected account of the last transfer attempt.
    pub stripe_account_id: Option<String>,
    /// The Stripe Transfer (`tr_...`) once paid.
    pub stripe_transfer_id: Option<String>,
    /// Transfer attempts so far.
    pub attempts: i32,
    /// When the last attempt was made.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed (cleared when paid).
    pub last_error: Option<String>,
}

/// A creator's Stripe connected account, where payouts are transferred.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PayoutAccount {
    /// Creator.
    #[schema(value_type = String, format = Uuid)]
    pub creator_id: UserId,
    /// `acct_...`.
    pub stripe_account_id: String,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

const PAYOUT_COLUMNS: &str = "payout_id, creator_id, amount, currency, status, requested_at, available_at, executed_at,
    stripe_account_id, stripe_transfer_id, attempts, last_attempt_at, last_error";

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
        let payout = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "insert into payout_requests (payout_id, creator_id, amount, currency, requested_at, available_at)
             values ($1, $2, $3, $4, $5, $6)
             returning {PAYOUT_COLUMNS}"
        )))
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
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select {PAYOUT_COLUMNS}
             from payout_requests where ($1::uuid is null and status = 'requested') or creator_id = $1
             order by requested_at desc limit 200"
        )))
        .bind(creator)
        .fetch_all(&self.core.db)
        .await?;
        Ok(rows)
    }

    /// Set the Stripe connected account `creator` is paid out to (operator).
    ///
    /// # Errors
    /// 404 when `creator` is not a creator.
    pub async fn set_payout_account(
        &self,
        creator: UserId,
        account: &ConnectedAccountId,
        operator: UserId,
    ) -> Result<PayoutAccount, BillingError> {
        if self.user(creator).await?.map(|u| u.role) != Some(tandem_shared::ids::Role::Creator) {
            return Err(BillingError::NotFound("creator"));
        }
        let row = sqlx::query_as(
            "insert into creator_payout_accounts (creator_id, stripe_account_id, updated_by) values ($1, $2, $3)
             on conflict (creator_id) do update
                 set stripe_account_id = excluded.stripe_account_id, updated_by = excluded.updated_by, updated_at = now()
             returning creator_id, stripe_account_id, updated_at",
        )
        .bind(creator)
        .bind(account.as_str())
        .bind(operator)
        .fetch_one(&self.core.db)
        .await?;
        Ok(row)
    }

    /// Execute a payout request (operator): transfer it to the creator's connected account
    /// through Stripe, then debit the creator's earnings and mark it paid with the transfer id.
    ///
    /// The request row stays locked (`FOR UPDATE`) for the whole attempt, so a concurrent
    /// execution waits and then finds it paid. Executing a paid payout returns it unchanged
    /// without calling Stripe. A failed transfer is recorded on the request (`attempts`,
    /// `last_error`), which stays `requested` and can be executed again; every attempt uses the
    /// same idempotency key, so an attempt whose answer was lost cannot transfer twice.
    ///
    /// # Errors
    /// 503 `not_configured` without `STRIPE_SECRET_KEY`; 404 unknown; 409 `payout_on_hold`
    /// before `available_at`, `payout_cancelled`, `no_payout_account`, `insufficient_earnings`;
    /// 502 `payment_provider_error` when Stripe fails or refuses.
    pub async fn execute_payout(&self, payout_id: Uuid, operator: UserId) -> Result<Payout, BillingError> {
        let stripe = self.checkout.as_ref().ok_or(BillingError::NotConfigured("STRIPE_SECRET_KEY"))?;
        let mut tx = self.core.db.begin().await?;
        let payout: Payout = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select {PAYOUT_COLUMNS} from payout_requests where payout_id = $1 for update"
        )))
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
        let account: Option<String> =
            sqlx::query_scalar("select stripe_account_id from creator_payout_accounts where creator_id = $1")
                .bind(payout.creator_id)
                .fetch_optional(&mut *tx)
                .await?;
        let destination = account.and_then(|a| ConnectedAccountId::parse(&a).ok()).ok_or_else(|| {
            BillingError::conflict("no_payout_account", "the creator has no Stripe connected account for payouts")
        })?;
        let currency = self.currency();
        // Nothing leaves before the earnings are known to cover it. Requests are checked against
        // the balance minus other open requests and earnings only shrink through payouts, so this
        // still holds when the transfer returns (the earnings row is not held during the call,
        // which would stall the creator's minute charges and tips).
        let balance = ledger::balance(&mut *tx, AccountKind::Earnings, payout.creator_id, currency).await?.balance;
        if balance < payout.amount {
            return Err(BillingError::conflict(
                "insufficient_earnings",
                format!("the earnings balance ({balance}) no longer covers this payout"),
            ));
        }
        let now = self.clock.now();
        sqlx::query(
            "update payout_requests set attempts = attempts + 1, last_attempt_at = $2, stripe_account_id = $3
             where payout_id = $1",
        )
        .bind(payout_id)
        .bind(now)
        .bind(destination.as_str())
        .execute(&mut *tx)
        .await?;
        let transfer_id =
            match stripe.create_transfer(payout_id, payout.creator_id, &destination, payout.amount, currency).await {
                Ok(id) => id,
                Err(e) => return Err(self.record_transfer_failure(tx, payout_id, e).await),
            };
        let earnings = ledger::account(&mut tx, AccountKind::Earnings, Some(payout.creator_id), currency).await?;
        let clearing = ledger::account(&mut tx, AccountKind::StripeClearing, None, currency).await?;
        let posting = Posting {
            key: format!("payout:{payout_id}"),
            kind: TxKind::Payout,
            currency,
            room_id: None,
            fan_id: None,
            creator_id: Some(payout.creator_id),
            memo: json!({"payout_id": payout_id, "executed_by": operator, "stripe_transfer_id": transfer_id}),
            legs: vec![(earnings, -payout.amount), (clearing, payout.amount)],
            payer: Some(earnings),
            // The money has left through Stripe: the ledger must record it (checked above).
            forced: true,
        };
        ledger::post(&mut tx, &posting).await.map_err(|e| match e {
            SpendError::Db(e) => BillingError::from(e),
            other => BillingError::Internal(anyhow::anyhow!("posting an accepted payout failed: {other:?}")),
        })?;
        let paid = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "update payout_requests set status = 'paid', executed_at = $2, executed_by = $3, stripe_transfer_id = $4,
                 last_error = null
             where payout_id = $1
             returning {PAYOUT_COLUMNS}"
        )))
        .bind(payout_id)
        .bind(now)
        .bind(operator)
        .bind(&transfer_id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        metrics::counter!("billing_payouts_executed_total").increment(1);
        tracing::info!(%payout_id, creator_id = %payout.creator_id, %transfer_id, "payout transferred");
        Ok(paid)
    }

    /// Record a failed transfer attempt on the (still locked) request and commit, leaving it
    /// `requested`; returns the error to answer with.
    async fn record_transfer_failure(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
        payout_id: Uuid,
        e: TransferError,
    ) -> BillingError {
        metrics::counter!("billing_payout_transfer_failures_total").increment(1);
        tracing::warn!(%payout_id, error = %e, "payout transfer failed");
        let message: String = e.to_string().chars().take(500).collect();
        let recorded = sqlx::query("update payout_requests set last_error = $2 where payout_id = $1")
            .bind(payout_id)
            .bind(message)
            .execute(&mut *tx)
            .await;
        if let Err(db) = recorded {
            return db.into();
        }
        if let Err(db) = tx.commit().await {
            return db.into();
        }
        BillingError::Provider(anyhow::Error::new(e))
    }
}
