//! Stripe Checkout Sessions for wallet top-ups, created through async-stripe.

use crate::config::StripeSettings;
use anyhow::Context;
use std::collections::HashMap;
use stripe::StripeRequest;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData, ProductData,
};
use stripe_checkout::CheckoutSessionMode;
use tandem_shared::ids::UserId;

/// A created Checkout Session: where to send the fan.
#[derive(Debug, Clone)]
pub struct CreatedSession {
    /// `cs_...`.
    pub id: String,
    /// The hosted payment page.
    pub url: String,
}

/// A Stripe client for this deployment (cheap to clone).
#[derive(Clone)]
pub struct Checkout {
    client: stripe::Client,
    success_url: String,
    cancel_url: String,
}

impl Checkout {
    /// A client for `settings`, or `None` when no secret key is configured.
    ///
    /// # Errors
    /// An invalid `STRIPE_API_BASE`.
    pub fn from_settings(settings: &StripeSettings) -> anyhow::Result<Option<Self>> {
        let Some(key) = &settings.secret_key else { return Ok(None) };
        let mut builder = stripe::ClientBuilder::new(key.clone()).timeout(std::time::Duration::from_secs(20)).app_info(
            "tandem",
            Some(env!("CARGO_PKG_VERSION").to_string()),
            None,
        );
        if let Some(base) = &settings.api_base {
            // async-stripe appends `v1/...` to the base, which must end with a slash.
            let base = if base.ends_with('/') { base.clone() } else { format!("{base}/") };
            builder = builder.url(base);
        }
        let client = builder.build().context("Failed to build the Stripe client (check STRIPE_API_BASE)")?;
        Ok(Some(Self { client, success_url: settings.success_url.clone(), cancel_url: settings.cancel_url.clone() }))
    }

    /// The underlying async-stripe client (also used for Connect transfers).
    pub(crate) fn client(&self) -> &stripe::Client {
        &self.client
    }

    /// Create a one-off payment session of `amount` minor units for `user`'s wallet.
    ///
    /// The user id goes in `client_reference_id` and in `metadata.user_id`; `idempotency_key`
    /// makes a retried call return the same session.
    ///
    /// # Errors
    /// Stripe unreachable or refusing the request.
    pub async fn create_top_up(
        &self,
        user: UserId,
        amount: i64,
        currency: &str,
        idempotency_key: &str,
    ) -> anyhow::Result<CreatedSession> {
        let currency: stripe_types::Currency =
            currency.parse().map_err(|_| anyhow::anyhow!("unsupported currency `{currency}`"))?;
        let mut price = CreateCheckoutSessionLineItemsPriceData::new(currency);
        price.unit_amount = Some(amount);
        price.product_data = Some(ProductData::new("Tandem wallet credit"));
        let mut item = CreateCheckoutSessionLineItems::new();
        item.price_data = Some(price);
        item.quantity = Some(1);
        let metadata = HashMap::from([("user_id".to_string(), user.to_string())]);
        let request = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Payment)
            .line_items(vec![item])
            .client_reference_id(user.to_string())
            .metadata(metadata)
            .success_url(self.success_url.clone())
            .cancel_url(self.cancel_url.clone());
        let strategy = stripe::RequestStrategy::Idempotent(
            stripe::IdempotencyKey::new(idempotency_key).context("invalid Stripe idempotency key")?,
        );
        let session = request
            .customize()
            .request_strategy(strategy)
            .send(&self.client)
            .await
            .context("Stripe refused or failed to create the Checkout Session")?;
        let url = session.url.context("Stripe returned a Checkout Session without a URL")?;
        Ok(CreatedSession { id: session.id.to_string(), url })
    }
}
