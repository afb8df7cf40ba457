//! The double-entry ledger: accounts with cached balances, transactions with idempotency keys,
//! entries that sum to zero, and [`ledger_check`], which verifies all of it.
//!
//! Concurrency: every posting locks the rows of the accounts it touches with
//! `SELECT .. FOR UPDATE` in account-id order (one global order, so postings never deadlock),
//! then checks the payer's balance under that lock. Two spends from one wallet are therefore
//! serialized by PostgreSQL, whichever node runs them, and a wallet never goes below zero by
//! spending. Only refunds and disputes ([`Posting::forced`]) may take a wallet negative, which
//! freezes it.

use serde::Serialize;
use sqlx::{PgConnection, PgPool, Row};
use std::collections::BTreeMap;
use tandem_shared::ids::{RoomId, UserId};
use uuid::Uuid;

/// What an account holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    /// A fan's prepaid credit (a liability of the platform towards the fan).
    Wallet,
    /// A creator's earnings, not yet paid out.
    Earnings,
    /// The platform's fees.
    PlatformRevenue,
    /// Money in transit at Stripe: debited by top-ups, credited by refunds, disputes and payouts.
    StripeClearing,
}

impl AccountKind {
    /// The name stored in `ledger_accounts.kind`.
    pub fn as_str(&self) -> &'static str {
        match self {
            AccountKind::Wallet => "wallet",
            AccountKind::Earnings => "earnings",
            AccountKind::PlatformRevenue => "platform_revenue",
            AccountKind::StripeClearing => "stripe_clearing",
        }
    }
}

/// What a transaction records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxKind {
    /// A paid Stripe Checkout Session.
    TopUp,
    /// Development credit (no money moved).
    DevTopUp,
    /// A Stripe refund.
    Refund,
    /// A Stripe dispute (chargeback).
    Dispute,
    /// One started minute of a private session.
    PrivateMinute,
    /// A tip.
    Tip,
    /// A creator payout.
    Payout,
}

impl TxKind {
    /// The name stored in `ledger_transactions.kind`.
    pub fn as_str(&self) -> &'static str {
        match self {
            TxKind::TopUp => "top_up",
            TxKind::DevTopUp => "dev_top_up",
            TxKind::Refund => "refund",
            TxKind::Dispute => "dispute",
            TxKind::PrivateMinute => "private_minute",
            TxKind::Tip => "tip",
            TxKind::Payout => "payout",
        }
    }
}

/// Why a posting was not applied.
#[derive(Debug, thiserror::Error)]
pub enum SpendError {
    /// The paying account does not cover the amount.
    #[error("insufficient funds: {needed} needed, {available} available")]
    InsufficientFunds {
        /// Minor units needed.
        needed: i64,
        /// Minor units available.
        available: i64,
    },
    /// The paying wallet is frozen.
    #[error("the wallet is frozen")]
    Frozen,
    /// Database failure (including an unbalanced posting, which is a bug).
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// A transaction to post: legs that must sum to zero.
#[derive(Debug, Clone)]
pub struct Posting {
    /// Unique per logical operation; a retry with the same key is a no-op.
    pub key: String,
    /// What it records.
    pub kind: TxKind,
    /// Currency of every leg.
    pub currency: &'static str,
    /// Room context, for reports.
    pub room_id: Option<RoomId>,
    /// Fan context, for reports.
    pub fan_id: Option<UserId>,
    /// Creator context, for reports.
    pub creator_id: Option<UserId>,
    /// Free-form details (Stripe ids, notes).
    pub memo: serde_json::Value,
    /// (account, signed amount); amounts of one account are merged.
    pub legs: Vec<(Uuid, i64)>,
    /// The account that pays: it must not be frozen and must cover its debit.
    pub payer: Option<Uuid>,
    /// Allowed to take wallets negative (refunds, disputes); they are frozen if so.
    pub forced: bool,
}

/// What posting did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    /// Applied now, as this transaction.
    Applied(Uuid),
    /// The key was already used: applied earlier, nothing changed now.
    Duplicate,
}

/// Split `amount` between creator and platform: the creator gets `amount * bps / 10000`
/// rounded down, the platform gets the rest (so any remainder of the division goes to the
/// platform, and the two parts always sum to `amount`).
pub fn split(amount: i64, creator_share_bps: u16) -> (i64, i64) {
    let creator = (i128::from(amount) * i128::from(creator_share_bps) / 10_000) as i64;
    (creator, amount - creator)
}

/// The id of an account, created on first use.
///
/// # Errors
/// Database errors.
pub async fn account(
    conn: &mut PgConnection,
    kind: AccountKind,
    user: Option<UserId>,
    currency: &str,
) -> sqlx::Result<Uuid> {
    let existing = sqlx::query_scalar::<_, Uuid>(
        "select account_id from ledger_accounts where kind = $1 and user_id is not distinct from $2 and currency = $3",
    )
    .bind(kind.as_str())
    .bind(user)
    .bind(currency)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(id) = existing {
        return Ok(id);
    }
    sqlx::query(
        "insert into ledger_accounts (account_id, kind, user_id, currency) values ($1, $2, $3, $4)
         on conflict on constraint ledger_accounts_kind_user_currency_key do nothing",
    )
    .bind(Uuid::new_v4())
    .bind(kind.as_str())
    .bind(user)
    .bind(currency)
    .execute(&mut *conn)
    .await?;
    sqlx::query_scalar(
        "select account_id from ledger_accounts where kind = $1 and user_id is not distinct from $2 and currency = $3",
    )
    .bind(kind.as_str())
    .bind(user)
    .bind(currency)
    .fetch_one(&mut *conn)
    .await
}

/// Post `p` inside the caller's database transaction (`conn` must be in one).
///
/// The balance check and the balance updates happen under row locks taken in account-id
/// order; the caller commits. A [`SpendError`] leaves nothing to commit (roll back).
///
/// # Errors
/// [`SpendError::InsufficientFunds`] / [`SpendError::Frozen`] for the payer; database errors;
/// an unbalanced posting is refused before touching the database.
pub async fn post(conn: &mut PgConnection, p: &Posting) -> Result<Posted, SpendError> {
    let mut merged: BTreeMap<Uuid, i64> = BTreeMap::new();
    for (account, amount) in &p.legs {
        *merged.entry(*account).or_default() += amount;
    }
    merged.retain(|_, v| *v != 0);
    let total: i128 = merged.values().map(|v| i128::from(*v)).sum();
    if total != 0 || merged.is_empty() {
        return Err(SpendError::Db(sqlx::Error::Protocol(format!(
            "refusing to post an unbalanced or empty transaction `{}` (sum {total})",
            p.key
        ))));
    }
    // Lock every touched account in one global order (BTreeMap keys are sorted). Nothing is
    // written before the checks below, so a refused posting leaves the caller's transaction
    // usable (the meter keeps going after a refused minute).
    let ids: Vec<Uuid> = merged.keys().copied().collect();
    let rows = sqlx::query(
        "select account_id, balance, frozen from ledger_accounts where account_id = any($1) order by account_id for update",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    if rows.len() != ids.len() {
        return Err(SpendError::Db(sqlx::Error::RowNotFound));
    }
    // Checked under the locks: a concurrent retry of the same key has committed by now.
    let seen: Option<i32> = sqlx::query_scalar("select 1 from ledger_transactions where idempotency_key = $1")
        .bind(&p.key)
        .fetch_optional(&mut *conn)
        .await?;
    if seen.is_some() {
        return Ok(Posted::Duplicate);
    }
    if let Some(payer) = p.payer {
        let row = rows.iter().find(|r| r.get::<Uuid, _>("account_id") == payer).ok_or(sqlx::Error::RowNotFound)?;
        let balance: i64 = row.get("balance");
        let frozen: bool = row.get("frozen");
        let debit = -merged.get(&payer).copied().unwrap_or(0);
        if frozen && !p.forced {
            return Err(SpendError::Frozen);
        }
        if !p.forced && debit > balance {
            return Err(SpendError::InsufficientFunds { needed: debit, available: balance.max(0) });
        }
    }
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "insert into ledger_transactions (transaction_id, idempotency_key, kind, currency, room_id, fan_id, creator_id, memo)
         values ($1, $2, $3, $4, $5, $6, $7, $8)
         on conflict on constraint ledger_transactions_idempotency_key_key do nothing
         returning transaction_id",
    )
    .bind(Uuid::new_v4())
    .bind(&p.key)
    .bind(p.kind.as_str())
    .bind(p.currency)
    .bind(p.room_id)
    .bind(p.fan_id)
    .bind(p.creator_id)
    .bind(&p.memo)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(tx_id) = inserted else {
        return Ok(Posted::Duplicate);
    };
    let amounts: Vec<i64> = merged.values().copied().collect();
    sqlx::query(
        "insert into ledger_entries (transaction_id, account_id, amount)
         select $1, a, m from unnest($2::uuid[], $3::bigint[]) as t(a, m)",
    )
    .bind(tx_id)
    .bind(&ids)
    .bind(&amounts)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "update ledger_accounts l set balance = l.balance + t.m,
             frozen = l.frozen or (l.kind = 'wallet' and l.balance + t.m < 0)
         from unnest($1::uuid[], $2::bigint[]) as t(a, m) where l.account_id = t.a",
    )
    .bind(&ids)
    .bind(&amounts)
    .execute(&mut *conn)
    .await?;
    Ok(Posted::Applied(tx_id))
}

/// A fan's spend towards a creator, split between the creator's earnings and platform revenue.
#[derive(Debug, Clone)]
pub struct Spend {
    /// Idempotency key.
    pub key: String,
    /// `PrivateMinute` or `Tip`.
    pub kind: TxKind,
    /// Who pays.
    pub fan: UserId,
    /// Who earns.
    pub creator: UserId,
    /// Where.
    pub room: Option<RoomId>,
    /// Minor units, positive.
    pub amount: i64,
    /// The creator's share in basis points.
    pub creator_share_bps: u16,
    /// Details for the record.
    pub memo: serde_json::Value,
}

/// Post a [`Spend`] inside the caller's transaction.
///
/// # Errors
/// As [`post`].
pub async fn spend(conn: &mut PgConnection, currency: &'static str, s: &Spend) -> Result<Posted, SpendError> {
    let wallet = account(conn, AccountKind::Wallet, Some(s.fan), currency).await?;
    let earnings = account(conn, AccountKind::Earnings, Some(s.creator), currency).await?;
    let platform = account(conn, AccountKind::PlatformRevenue, None, currency).await?;
    let (creator_part, platform_part) = split(s.amount, s.creator_share_bps);
    let posting = Posting {
        key: s.key.clone(),
        kind: s.kind,
        currency,
        room_id: s.room,
        fan_id: Some(s.fan),
        creator_id: Some(s.creator),
        memo: s.memo.clone(),
        legs: vec![(wallet, -s.amount), (earnings, creator_part), (platform, platform_part)],
        payer: Some(wallet),
        forced: false,
    };
    post(conn, &posting).await
}

/// A wallet's balance and state.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct WalletState {
    /// Minor units (negative only after a refund or dispute).
    pub balance: i64,
    /// Frozen wallets cannot spend.
    pub frozen: bool,
}

/// The balance of a user's account of `kind`, zero if it does not exist yet.
///
/// # Errors
/// Database errors.
pub async fn balance(
    db: impl sqlx::PgExecutor<'_>,
    kind: AccountKind,
    user: UserId,
    currency: &str,
) -> sqlx::Result<WalletState> {
    let row: Option<(i64, bool)> = sqlx::query_as(
        "select balance, frozen from ledger_accounts where kind = $1 and user_id = $2 and currency = $3",
    )
    .bind(kind.as_str())
    .bind(user)
    .bind(currency)
    .fetch_optional(db)
    .await?;
    let (balance, frozen) = row.unwrap_or((0, false));
    Ok(WalletState { balance, frozen })
}

/// One line of an account's history.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct EntryView {
    /// The transaction.
    pub transaction_id: Uuid,
    /// `top_up`, `private_minute`, `tip`, ...
    pub kind: String,
    /// Signed minor units on this account.
    pub amount: i64,
    /// Room context, if any.
    pub room_id: Option<Uuid>,
    /// When.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// The latest `limit` entries of a user's account of `kind`.
///
/// # Errors
/// Database errors.
pub async fn recent_entries(
    db: &PgPool,
    kind: AccountKind,
    user: UserId,
    currency: &str,
    limit: i64,
) -> sqlx::Result<Vec<EntryView>> {
    sqlx::query_as(
        "select t.transaction_id, t.kind, e.amount, t.room_id, e.created_at
         from ledger_accounts a
         join ledger_entries e on e.account_id = a.account_id
         join ledger_transactions t on t.transaction_id = e.transaction_id
         where a.kind = $1 and a.user_id = $2 and a.currency = $3
         order by e.entry_id desc limit $4",
    )
    .bind(kind.as_str())
    .bind(user)
    .bind(currency)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// An account whose cached balance differs from the sum of its entries.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BalanceMismatch {
    /// The account.
    pub account_id: Uuid,
    /// Cached balance.
    pub cached: i64,
    /// Sum of entries.
    pub entries: i64,
}

/// The result of [`ledger_check`].
#[derive(Debug, Clone, Serialize, Default)]
pub struct LedgerReport {
    /// Accounts checked.
    pub accounts: i64,
    /// Transactions checked.
    pub transactions: i64,
    /// Entries checked.
    pub entries: i64,
    /// Transactions whose entries do not sum to zero.
    pub unbalanced_transactions: Vec<Uuid>,
    /// Transactions without entries.
    pub empty_transactions: Vec<Uuid>,
    /// Accounts whose cached balance is not the sum of their entries.
    pub balance_mismatches: Vec<BalanceMismatch>,
    /// Entries whose account's currency differs from their transaction's.
    pub currency_mismatches: i64,
    /// Negative wallets that are not frozen.
    pub negative_unfrozen_wallets: Vec<Uuid>,
}

impl LedgerReport {
    /// True when the ledger is consistent.
    pub fn is_ok(&self) -> bool {
        self.unbalanced_transactions.is_empty()
            && self.empty_transactions.is_empty()
            && self.balance_mismatches.is_empty()
            && self.currency_mismatches == 0
            && self.negative_unfrozen_wallets.is_empty()
    }
}

impl std::fmt::Display for LedgerReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "accounts: {}, transactions: {}, entries: {}", self.accounts, self.transactions, self.entries)?;
        writeln!(f, "unbalanced transactions: {}", self.unbalanced_transactions.len())?;
        writeln!(f, "transactions without entries: {}", self.empty_transactions.len())?;
        writeln!(f, "cached balances differing from entries: {}", self.balance_mismatches.len())?;
        writeln!(f, "entries in a foreign currency: {}", self.currency_mismatches)?;
        writeln!(f, "negative wallets not frozen: {}", self.negative_unfrozen_wallets.len())?;
        write!(f, "{}", if self.is_ok() { "ledger OK" } else { "LEDGER INCONSISTENT" })
    }
}

/// Verify the whole ledger: every transaction balances and has entries, every cached balance
/// equals the sum of its entries, currencies match, and negative wallets are frozen.
///
/// Runs in one repeatable-read transaction, so it sees one consistent snapshot even while
/// postings continue.
///
/// # Errors
/// Database errors (an inconsistent ledger is reported in the [`LedgerReport`], not as an error).
pub async fn ledger_check(pool: &PgPool) -> anyhow::Result<LedgerReport> {
    use anyhow::Context;
    let mut tx = pool.begin().await.context("Failed to begin the ledger check")?;
    sqlx::query("set transaction isolation level repeatable read, read only").execute(&mut *tx).await?;
    let (accounts, transactions, entries): (i64, i64, i64) = sqlx::query_as(
        "select (select count(*) from ledger_accounts), (select count(*) from ledger_transactions),
                (select count(*) from ledger_entries)",
    )
    .fetch_one(&mut *tx)
    .await
    .context("Failed to count the ledger")?;
    let unbalanced_transactions = sqlx::query_scalar(
        "select transaction_id from ledger_entries group by transaction_id having sum(amount) <> 0 order by 1 limit 1000",
    )
    .fetch_all(&mut *tx)
    .await
    .context("Failed to sum transactions")?;
    let empty_transactions = sqlx::query_scalar(
        "select t.transaction_id from ledger_transactions t
         where not exists (select 1 from ledger_entries e where e.transaction_id = t.transaction_id) order by 1 limit 1000",
    )
    .fetch_all(&mut *tx)
    .await
    .context("Failed to find empty transactions")?;
    let balance_mismatches = sqlx::query_as::<_, (Uuid, i64, i64)>(
        "select a.account_id, a.balance, coalesce(s.total, 0)::bigint
         from ledger_accounts a
         left join (select account_id, sum(amount) as total from ledger_entries group by account_id) s
           on s.account_id = a.account_id
         where a.balance <> coalesce(s.total, 0) order by 1 limit 1000",
    )
    .fetch_all(&mut *tx)
    .await
    .context("Failed to compare balances")?
    .into_iter()
    .map(|(account_id, cached, entries)| BalanceMismatch { account_id, cached, entries })
    .collect();
    let currency_mismatches = sqlx::query_scalar(
        "select count(*) from ledger_entries e
         join ledger_accounts a on a.account_id = e.account_id
         join ledger_transactions t on t.transaction_id = e.transaction_id
         where a.currency <> t.currency",
    )
    .fetch_one(&mut *tx)
    .await
    .context("Failed to compare currencies")?;
    let negative_unfrozen_wallets = sqlx::query_scalar(
        "select account_id from ledger_accounts where kind = 'wallet' and balance < 0 and not frozen order by 1 limit 1000",
    )
    .fetch_all(&mut *tx)
    .await
    .context("Failed to find negative wallets")?;
    tx.commit().await?;
    Ok(LedgerReport {
        accounts,
        transactions,
        entries,
        unbalanced_transactions,
        empty_transactions,
        balance_mismatches,
        currency_mismatches,
        negative_unfrozen_wallets,
    })
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn split_sums_to_the_amount_and_rounds_the_creator_down() {
        assert_eq!(split(100, 8000), (80, 20));
        assert_eq!(split(99, 8000), (79, 20));
        assert_eq!(split(1, 8000), (0, 1));
        assert_eq!(split(7, 10_000), (7, 0));
        assert_eq!(split(7, 0), (0, 7));
        for amount in [1, 3, 17, 101, 9_999, i64::MAX / 2] {
            for bps in [0, 1, 3333, 5000, 8000, 9999, 10_000] {
                let (c, p) = split(amount, bps);
                assert_eq!(c + p, amount);
                assert!(c >= 0 && p >= 0);
            }
        }
    }
}
