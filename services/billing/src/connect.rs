//! Stripe Connect transfers for payout execution, through async-stripe (`POST /v1/transfers`).

use crate::checkout::Checkout;
use anyhow::Context;
use std::collections::HashMap;
use stripe::StripeRequest;
use stripe_connect::transfer::CreateTransfer;
use tandem_shared::ids::UserId;
use uuid::Uuid;

/// A creator's Stripe connected account id (`acct_` followed by letters and digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedAccountId(String);

impl ConnectedAccountId {
    /// Parse `acct_[A-Za-z0-9]+` (at most 255 characters).
    ///
    /// # Errors
    /// Anything else, with an explanation.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let rest = raw.strip_prefix("acct_").ok_or("stripe_account_id must start with `acct_`")?;
        if rest.is_empty() || raw.len() > 255 || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("stripe_account_id must be `acct_` followed by letters and digits".into());
        }
        Ok(Self(raw.to_string()))
    }

    /// The id as Stripe spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a transfer was not made.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// Stripe answered with an error (the message is Stripe's, safe to show an operator).
    #[error("Stripe refused the transfer ({status}): {message}")]
    Refused {
        /// HTTP status from Stripe.
        status: u16,
        /// Stripe's error type and message.
        message: String,
    },
    /// Stripe could not be reached or answered something unreadable.
    #[error("could not reach Stripe: {0}")]
    Unreachable(String),
}

/// The idempotency key of a payout's transfer: the same for every attempt, so a retried
/// request whose first attempt reached Stripe returns that transfer instead of making another.
pub fn transfer_idempotency_key(payout_id: Uuid) -> String {
    format!("tandem-payout-{payout_id}")
}

impl Checkout {
    /// Transfer `amount` minor units of `currency` to `destination` for payout `payout_id`
    /// (`metadata[payout_id]`, `metadata[user_id]`, `transfer_group=payout_<id>`), keyed by
    /// [`transfer_idempotency_key`]. Returns the `tr_...` id.
    ///
    /// # Errors
    /// [`TransferError`]; an invalid currency is a bug and reported as `Unreachable`.
    pub async fn create_transfer(
        &self,
        payout_id: Uuid,
        creator: UserId,
        destination: &ConnectedAccountId,
        amount: i64,
        currency: &str,
    ) -> Result<String, TransferError> {
        let currency: stripe_types::Currency =
            currency.parse().map_err(|_| TransferError::Unreachable(format!("unsupported currency `{currency}`")))?;
        let metadata = HashMap::from([
            ("payout_id".to_string(), payout_id.to_string()),
            ("user_id".to_string(), creator.to_string()),
        ]);
        let request = CreateTransfer::new(currency, destination.as_str())
            .amount(amount)
            .metadata(metadata)
            .transfer_group(format!("payout_{payout_id}"))
            .description("Tandem creator payout");
        let key = stripe::IdempotencyKey::new(transfer_idempotency_key(payout_id))
            .context("invalid Stripe idempotency key")
            .map_err(|e| TransferError::Unreachable(e.to_string()))?;
        let transfer = request
            .customize()
            .request_strategy(stripe::RequestStrategy::Idempotent(key))
            .send(self.client())
            .await
            .map_err(|e| match e {
                stripe::StripeError::Stripe(errors, status) => {
                    let message = errors.message.clone().unwrap_or_else(|| "no message".into());
                    TransferError::Refused { status, message: format!("{}: {message}", errors.type_) }
                }
                other => TransferError::Unreachable(other.to_string()),
            })?;
        Ok(transfer.id.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_parse_strictly() {
        assert_eq!(ConnectedAccountId::parse("acct_1Nv0FGQ9RKHgCVdK").unwrap().as_str(), "acct_1Nv0FGQ9RKHgCVdK");
        for bad in [
            "",
            "acct_",
            "acct_12 3",
            "acct_ab-c",
            "ACCT_123",
            "cus_123",
            "acct_é1",
            &format!("acct_{}", "a".repeat(251)),
        ] {
            assert!(ConnectedAccountId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
