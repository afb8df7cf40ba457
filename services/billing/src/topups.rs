//! Top-ups: limits, Checkout Sessions, development credit, and what Stripe events do to
//! wallets (credit on payment, debit on refund and dispute).

use crate::error::BillingError;
use crate::ledger::{self, AccountKind, Posted, Posting, TxKind};
use crate::Billing;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::{PgConnection, Row};
use tandem_shared::events::{publish, user_channel, BusEvent};
use tandem_shared::ids::UserId;

/// A Checkout Session the fan should be sent to.
#[derive(Debug, Clone, Serialize)]
pub struct TopUpSession {
    /// `cs_...`.
    pub session_id: String,
    /// Stripe's hosted payment page.
    pub url: String,
    /// Minor units.
    pub amount: i64,
    /// Currency.
    pub currency: &'static str,
}

/// What processing one Stripe event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventOutcome {
    /// The event id was seen before; nothing happened.
    Duplicate,
    /// A wallet was credited.
    Credited,
    /// A wallet was debited (refund or dispute).
    Debited,
    /// Recorded, nothing to do (other types, unpaid sessions, unknown sessions).
    Ignored,
    /// A creator's identity verification changed (`identity.verification_session.*`).
    Verification,
}

/// Serialize top-ups of one user (limit checks and recording) within a transaction.
async fn lock_user(conn: &mut PgConnection, user: UserId) -> sqlx::Result<()> {
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('tandem.billing.topup:' || $1::text, 0))")
        .bind(user)
        .execute(conn)
        .await
        .map(|_| ())
}

impl Billing {
    /// Refuse `amount` outside the per-top-up bounds or over the rolling 24 h limit.
    /// Call with the user's top-up lock held.
    async fn check_top_up(&self, conn: &mut PgConnection, user: UserId, amount: i64) -> Result<(), BillingError> {
        let s = &self.settings;
        if !s.topup.contains(amount) {
            return Err(BillingError::Validation(format!(
                "amount must be between {} and {} (minor units)",
                s.topup.min, s.topup.max
            )));
        }
        let since = self.clock.now() - chrono::Duration::hours(24);
        // Every Checkout Session created counts (paid or not: conservative), top-ups still
        // waiting for Stripe, plus dev credit.
        let used: i64 = sqlx::query_scalar(
            "select coalesce((select sum(amount) from stripe_checkout_sessions where user_id = $1 and created_at > $2), 0)::bigint
                  + coalesce((select sum(amount) from topup_reservations where user_id = $1 and created_at > $2), 0)::bigint
                  + coalesce((select sum(e.amount) from ledger_transactions t
                              join ledger_entries e on e.transaction_id = t.transaction_id
                              join ledger_accounts a on a.account_id = e.account_id and a.kind = 'wallet'
                              where t.kind = 'dev_top_up' and t.fan_id = $1 and t.created_at > $2), 0)::bigint",
        )
        .bind(user)
        .bind(since)
        .fetch_one(&mut *conn)
        .await?;
        if used + amount > s.topup_daily_max {
            return Err(BillingError::Limit(format!(
                "top-ups are limited to {} per 24 hours; {} left",
                s.topup_daily_max,
                (s.topup_daily_max - used).max(0)
            )));
        }
        Ok(())
    }

    /// Create a Stripe Checkout Session for `amount` and record it.
    ///
    /// Three steps, so that no pooled connection, transaction or lock is held while Stripe
    /// answers (one user's parallel top-ups cannot drain the pool): reserve the amount against
    /// the limits (short transaction under the user's top-up lock), call Stripe with the
    /// reservation as idempotency key, then record the session and drop the reservation.
    ///
    /// # Errors
    /// 400 amount out of bounds; 429 daily limit; 503 Stripe not configured; 502 Stripe failed.
    pub async fn create_top_up(&self, user: UserId, amount: i64) -> Result<TopUpSession, BillingError> {
        let checkout = self.checkout.as_ref().ok_or(BillingError::NotConfigured("Stripe (STRIPE_SECRET_KEY)"))?;
        let reservation = self.reserve_top_up(user, amount).await?;
        let key = format!("topup-{reservation}");
        let session = match checkout.create_top_up(user, amount, self.currency(), &key).await {
            Ok(session) => session,
            Err(e) => {
                // Stripe created nothing we know of: free the reservation (if this fails, it
                // keeps counting against the limit for 24 hours, never less).
                if let Err(db) = sqlx::query("delete from topup_reservations where reservation_id = $1")
                    .bind(reservation)
                    .execute(&self.core.db)
                    .await
                {
                    tracing::warn!(error.cause_chain = ?db, "failed to drop a top-up reservation");
                }
                return Err(BillingError::Provider(e));
            }
        };
        let mut tx = self.core.db.begin().await?;
        sqlx::query(
            "insert into stripe_checkout_sessions (session_id, user_id, amount, currency, created_at) values ($1, $2, $3, $4, $5)
             on conflict (session_id) do nothing",
        )
        .bind(&session.id)
        .bind(user)
        .bind(amount)
        .bind(self.currency())
        .bind(self.clock.now())
        .execute(&mut *tx)
        .await?;
        sqlx::query("delete from topup_reservations where reservation_id = $1")
            .bind(reservation)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        metrics::counter!("billing_checkout_sessions_total").increment(1);
        Ok(TopUpSession { session_id: session.id, url: session.url, amount, currency: self.currency() })
    }

    /// Check the limits and reserve `amount` for `user` (committed before Stripe is called).
    async fn reserve_top_up(&self, user: UserId, amount: i64) -> Result<uuid::Uuid, BillingError> {
        let mut tx = self.core.db.begin().await?;
        lock_user(&mut tx, user).await?;
        self.check_top_up(&mut tx, user, amount).await?;
        let reservation = uuid::Uuid::new_v4();
        sqlx::query(
            "insert into topup_reservations (reservation_id, user_id, amount, created_at) values ($1, $2, $3, $4)",
        )
        .bind(reservation)
        .bind(user)
        .bind(amount)
        .bind(self.clock.now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(reservation)
    }

    /// Development credit (the route exists only with `TANDEM_DEV_TOPUPS=1`).
    ///
    /// # Errors
    /// 400 amount out of bounds; 429 daily limit.
    pub async fn dev_top_up(&self, user: UserId, amount: i64) -> Result<ledger::WalletState, BillingError> {
        let mut tx = self.core.db.begin().await?;
        lock_user(&mut tx, user).await?;
        self.check_top_up(&mut tx, user, amount).await?;
        let currency = self.currency();
        let wallet = ledger::account(&mut tx, AccountKind::Wallet, Some(user), currency).await?;
        let clearing = ledger::account(&mut tx, AccountKind::StripeClearing, None, currency).await?;
        let posting = Posting {
            key: format!("dev-topup:{}", uuid::Uuid::new_v4()),
            kind: TxKind::DevTopUp,
            currency,
            room_id: None,
            fan_id: Some(user),
            creator_id: None,
            memo: json!({"source": "dev"}),
            legs: vec![(clearing, -amount), (wallet, amount)],
            payer: None,
            forced: false,
        };
        ledger::post(&mut tx, &posting).await?;
        let state = ledger::balance(&mut *tx, AccountKind::Wallet, user, currency).await?;
        tx.commit().await?;
        Ok(state)
    }

    /// Apply one verified Stripe event (the raw JSON body), exactly once per event id.
    ///
    /// The event id, and the wallet change it causes, are written in one database
    /// transaction: a crash before commit leaves nothing, and Stripe's retry applies it.
    ///
    /// # Errors
    /// 400 a body that is not a Stripe event; database errors (Stripe retries on 5xx).
    pub async fn apply_stripe_event(&self, payload: &[u8]) -> Result<EventOutcome, BillingError> {
        let event: Value =
            serde_json::from_slice(payload).map_err(|_| BillingError::Validation("not a JSON Stripe event".into()))?;
        let (Some(id), Some(kind)) = (event["id"].as_str(), event["type"].as_str()) else {
            return Err(BillingError::Validation("a Stripe event needs `id` and `type`".into()));
        };
        let object = &event["data"]["object"];
        let mut tx = self.core.db.begin().await?;
        let fresh = sqlx::query("insert into stripe_events (event_id, type) values ($1, $2) on conflict do nothing")
            .bind(id)
            .bind(kind)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if !fresh {
            tx.rollback().await?;
            return Ok(EventOutcome::Duplicate);
        }
        if kind.starts_with("identity.verification_session.") {
            let audit = self.apply_identity_event(&mut tx, kind, object).await?;
            tx.commit().await?;
            metrics::counter!("billing_stripe_events_total", "type" => kind.to_string()).increment(1);
            return Ok(match audit {
                Some(entry) => {
                    tandem_shared::audit::record(&self.core.hooks, entry).await;
                    EventOutcome::Verification
                }
                None => EventOutcome::Ignored,
            });
        }
        let outcome = match kind {
            "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
                self.credit_session(&mut tx, object).await?
            }
            "charge.refunded" => self.reverse(&mut tx, object, Reversal::Refund).await?,
            "charge.dispute.created" => self.reverse(&mut tx, object, Reversal::Dispute).await?,
            _ => None,
        };
        tx.commit().await?;
        metrics::counter!("billing_stripe_events_total", "type" => kind.to_string()).increment(1);
        let Some((outcome, user, amount)) = outcome else { return Ok(EventOutcome::Ignored) };
        let event_name = if outcome == EventOutcome::Credited { "billing.credited" } else { "billing.debited" };
        let notice =
            BusEvent::Notice { event: event_name.into(), data: json!({"amount": amount, "currency": self.currency()}) };
        if let Err(e) = publish(&self.core.redis, &user_channel(&self.core.redis, user), &notice).await {
            tracing::warn!(error.cause_chain = ?e, "failed to publish a wallet notice");
        }
        Ok(outcome)
    }

    async fn credit_session(
        &self,
        conn: &mut PgConnection,
        object: &Value,
    ) -> Result<Option<(EventOutcome, UserId, i64)>, BillingError> {
        let Some(session_id) = object["id"].as_str() else { return Ok(None) };
        if object["payment_status"].as_str() != Some("paid") {
            return Ok(None);
        }
        let Some(row) = sqlx::query(
            "select user_id, amount, currency, status from stripe_checkout_sessions where session_id = $1 for update",
        )
        .bind(session_id)
        .fetch_optional(&mut *conn)
        .await?
        else {
            tracing::warn!(session_id, "paid Checkout Session not created by this deployment: ignored");
            return Ok(None);
        };
        let user: UserId = row.get("user_id");
        let currency: String = row.get("currency");
        if row.get::<String, _>("status") == "paid" {
            return Ok(None);
        }
        let referenced = object["client_reference_id"].as_str().or(object["metadata"]["user_id"].as_str());
        if referenced != Some(user.to_string().as_str()) {
            tracing::warn!(session_id, "Checkout Session user reference differs from our record; crediting our record");
        }
        let paid_currency = object["currency"].as_str().unwrap_or(&currency);
        if !paid_currency.eq_ignore_ascii_case(&currency) || currency != self.currency() {
            tracing::error!(session_id, paid_currency, "Checkout Session paid in another currency: not credited");
            return Ok(None);
        }
        // Credit what was paid (amount_total), which is what we asked for unless Stripe applied
        // something we did not configure.
        let amount = object["amount_total"].as_i64().unwrap_or_else(|| row.get("amount"));
        if amount <= 0 {
            return Ok(None);
        }
        let currency = self.currency();
        let wallet = ledger::account(conn, AccountKind::Wallet, Some(user), currency).await?;
        let clearing = ledger::account(conn, AccountKind::StripeClearing, None, currency).await?;
        let posting = Posting {
            key: format!("stripe:checkout:{session_id}"),
            kind: TxKind::TopUp,
            currency,
            room_id: None,
            fan_id: Some(user),
            creator_id: None,
            memo: json!({"checkout_session": session_id, "payment_intent": object["payment_intent"]}),
            legs: vec![(clearing, -amount), (wallet, amount)],
            payer: None,
            forced: false,
        };
        let posted = ledger::post(conn, &posting).await?;
        sqlx::query(
            "update stripe_checkout_sessions set status = 'paid', paid_at = now(), amount = $2, payment_intent_id = $3
             where session_id = $1",
        )
        .bind(session_id)
        .bind(amount)
        .bind(object["payment_intent"].as_str())
        .execute(&mut *conn)
        .await?;
        Ok(matches!(posted, Posted::Applied(_)).then_some((EventOutcome::Credited, user, amount)))
    }

    async fn reverse(
        &self,
        conn: &mut PgConnection,
        object: &Value,
        reversal: Reversal,
    ) -> Result<Option<(EventOutcome, UserId, i64)>, BillingError> {
        let (Some(object_id), Some(payment_intent)) = (object["id"].as_str(), object["payment_intent"].as_str()) else {
            return Ok(None);
        };
        let Some(row) = sqlx::query(
            "select session_id, user_id, amount, refunded_amount, disputed_amount from stripe_checkout_sessions
             where payment_intent_id = $1 and status = 'paid' for update",
        )
        .bind(payment_intent)
        .fetch_optional(&mut *conn)
        .await?
        else {
            tracing::warn!(payment_intent, "refund or dispute of a payment this deployment did not credit: ignored");
            return Ok(None);
        };
        let user: UserId = row.get("user_id");
        let (amount, refunded, disputed): (i64, i64, i64) =
            (row.get("amount"), row.get("refunded_amount"), row.get("disputed_amount"));
        let room_left = amount - refunded - disputed;
        let (delta, key) = match reversal {
            // `amount_refunded` is cumulative over the charge's refunds.
            Reversal::Refund => {
                let total = object["amount_refunded"].as_i64().unwrap_or(0).min(amount);
                ((total - refunded).min(room_left), format!("stripe:refund:{object_id}:{total}"))
            }
            Reversal::Dispute => {
                (object["amount"].as_i64().unwrap_or(0).min(room_left), format!("stripe:dispute:{object_id}"))
            }
        };
        if delta <= 0 {
            return Ok(None);
        }
        let currency = self.currency();
        let wallet = ledger::account(conn, AccountKind::Wallet, Some(user), currency).await?;
        let clearing = ledger::account(conn, AccountKind::StripeClearing, None, currency).await?;
        let posting = Posting {
            key,
            kind: reversal.kind(),
            currency,
            room_id: None,
            fan_id: Some(user),
            creator_id: None,
            memo: json!({"stripe_object": object_id, "payment_intent": payment_intent}),
            legs: vec![(wallet, -delta), (clearing, delta)],
            payer: Some(wallet),
            // The money is gone at Stripe whatever the wallet holds: take it negative (frozen).
            forced: true,
        };
        if ledger::post(conn, &posting).await? == Posted::Duplicate {
            return Ok(None);
        }
        let column = match reversal {
            Reversal::Refund => "refunded_amount",
            Reversal::Dispute => "disputed_amount",
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "update stripe_checkout_sessions set {column} = {column} + $2 where session_id = $1"
        )))
        .bind(row.get::<String, _>("session_id"))
        .bind(delta)
        .execute(&mut *conn)
        .await?;
        Ok(Some((EventOutcome::Debited, user, delta)))
    }

    /// Unfreeze a wallet (operator decision after a refund or dispute was settled).
    ///
    /// # Errors
    /// 409 `wallet_negative` while the balance is below zero (or there is no wallet).
    pub async fn unfreeze(&self, user: UserId) -> Result<ledger::WalletState, BillingError> {
        let row: Option<(i64, bool)> = sqlx::query_as(
            "update ledger_accounts set frozen = false
             where kind = 'wallet' and user_id = $1 and currency = $2 and balance >= 0
             returning balance, frozen",
        )
        .bind(user)
        .bind(self.currency())
        .fetch_optional(&self.core.db)
        .await?;
        let (balance, frozen) = row.ok_or_else(|| {
            BillingError::conflict(
                "wallet_negative",
                "only an existing wallet with a balance of zero or more can be unfrozen",
            )
        })?;
        Ok(ledger::WalletState { balance, frozen })
    }
}

#[derive(Debug, Clone, Copy)]
enum Reversal {
    Refund,
    Dispute,
}

impl Reversal {
    fn kind(self) -> TxKind {
        match self {
            Reversal::Refund => TxKind::Refund,
            Reversal::Dispute => TxKind::Dispute,
        }
    }
}
