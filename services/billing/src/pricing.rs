//! Creators' per-minute prices for private sessions, within operator bounds.

use crate::error::BillingError;
use crate::Billing;
use serde::Serialize;
use tandem_shared::ids::UserId;

/// A creator's price.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Pricing {
    /// Minor units per started minute (0 = free).
    pub price_per_minute: i64,
    /// Currency.
    pub currency: &'static str,
    /// Lowest price a creator may set.
    pub min: i64,
    /// Highest price a creator may set.
    pub max: i64,
}

impl Billing {
    /// The creator's price (the configured default if they never set one).
    ///
    /// # Errors
    /// Database errors.
    pub async fn price_of(&self, creator: UserId) -> Result<Pricing, BillingError> {
        let price: Option<i64> =
            sqlx::query_scalar("select price_per_minute from creator_pricing where creator_id = $1 and currency = $2")
                .bind(creator)
                .bind(self.currency())
                .fetch_optional(&self.core.db)
                .await?;
        Ok(self.pricing(price.unwrap_or(self.settings.default_price)))
    }

    fn pricing(&self, price_per_minute: i64) -> Pricing {
        let b = self.settings.price;
        Pricing { price_per_minute, currency: self.currency(), min: b.min, max: b.max }
    }

    /// Set the creator's price; applies to sessions that start afterwards.
    ///
    /// # Errors
    /// 400 outside the operator's bounds.
    pub async fn set_price(&self, creator: UserId, price_per_minute: i64) -> Result<Pricing, BillingError> {
        self.require_verified(creator).await?;
        let b = self.settings.price;
        if !b.contains(price_per_minute) {
            return Err(BillingError::Validation(format!(
                "price_per_minute must be between {} and {} (minor units)",
                b.min, b.max
            )));
        }
        sqlx::query(
            "insert into creator_pricing (creator_id, price_per_minute, currency) values ($1, $2, $3)
             on conflict (creator_id) do update set price_per_minute = excluded.price_per_minute,
                 currency = excluded.currency, updated_at = now()",
        )
        .bind(creator)
        .bind(price_per_minute)
        .bind(self.currency())
        .execute(&self.core.db)
        .await?;
        Ok(self.pricing(price_per_minute))
    }
}
