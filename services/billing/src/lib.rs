//! Tandem billing service: fan wallets on a double-entry ledger, Stripe Checkout top-ups and
//! webhooks, per-minute charging of private sessions, tips, creator earnings and payouts.
//!
//! # Layout
//! - [`config`]: [`config::BillingSettings`] from the environment (table of variables there).
//! - [`ledger`]: accounts, balanced transactions with idempotency keys, row-locked spends and
//!   [`ledger_check`].
//! - [`clock`]: the [`clock::Clock`] the meter and webhook check read time from.
//! - [`checkout`]: Stripe Checkout Sessions through async-stripe.
//! - [`connect`]: Stripe Connect transfers that execute payouts, connected account ids.
//! - [`signature`]: `Stripe-Signature` verification.
//! - [`topups`]: top-up limits, dev credit, and what Stripe events do to wallets.
//! - [`pricing`]: creators' per-minute prices within operator bounds.
//! - [`meter`]: per-started-minute charging of private rooms; safe on several nodes.
//! - [`gate`]: the [`tandem_shared::hooks::PaymentGate`] the broker calls.
//! - [`tips`]: tips in broadcast and private rooms ([`Billing::tip`] is what signaling calls).
//! - [`earnings`]: creator earnings by day and room, payout requests and their execution.
//! - [`error`]: [`error::BillingError`], the one error type of this service.
//! - [`routes`]: the HTTP handlers and the OpenAPI document ([`openapi`]).

pub mod checkout;
pub mod clock;
pub mod config;
pub mod connect;
pub mod earnings;
pub mod error;
pub mod gate;
pub mod ledger;
pub mod meter;
pub mod pricing;
pub mod routes;
pub mod signature;
pub mod tips;
pub mod topups;
pub mod verification;

pub use ledger::{ledger_check, LedgerReport};
pub use routes::openapi;

use clock::{Clock, SystemClock};
use config::BillingSettings;
use error::BillingError;
use std::sync::Arc;
use tandem_shared::hooks::{PaymentGate, RoomSummary, UserSummary};
use tandem_shared::ids::{RoomId, UserId};
use tandem_shared::server::{Core, Service};

/// The billing service's shared state (cheap to clone).
#[derive(Clone)]
pub struct Billing {
    /// Database, Redis (events), hooks.
    pub core: Core,
    /// Billing settings.
    pub settings: Arc<BillingSettings>,
    /// Time source for metering and webhook tolerance.
    pub clock: Arc<dyn Clock>,
    /// Stripe client (Checkout and Connect transfers), when `STRIPE_SECRET_KEY` is set.
    pub checkout: Option<checkout::Checkout>,
}

impl Billing {
    /// Billing for `core` with explicit settings and clock (tests use a manual clock).
    ///
    /// # Errors
    /// Invalid settings or Stripe client configuration.
    pub fn new(core: &Core, settings: BillingSettings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        settings.validate()?;
        let checkout = checkout::Checkout::from_settings(&settings.stripe)?;
        Ok(Self { core: core.clone(), settings: Arc::new(settings), clock, checkout })
    }

    /// The deployment's currency.
    pub fn currency(&self) -> &'static str {
        self.settings.currency
    }

    /// A room as the broker (its owner) describes it.
    ///
    /// # Errors
    /// 503 when room control is not installed or the broker cannot be reached.
    pub async fn room(&self, room: RoomId) -> Result<Option<RoomSummary>, BillingError> {
        let rooms = self.core.hooks.rooms().ok_or(BillingError::Unavailable("room control"))?;
        rooms.room(room).await.map_err(|e| {
            tracing::error!(%room, error.cause_chain = ?e, "room control unavailable");
            BillingError::Unavailable("room control")
        })
    }

    /// A user as auth (its owner) describes them.
    ///
    /// # Errors
    /// 503 when the directory is not installed or cannot be reached.
    pub async fn user(&self, user: UserId) -> Result<Option<UserSummary>, BillingError> {
        let users = self.core.hooks.users().ok_or(BillingError::Unavailable("the user directory"))?;
        users.user(user).await.map_err(|e| {
            tracing::error!(%user, error.cause_chain = ?e, "user directory unavailable");
            BillingError::Unavailable("the user directory")
        })
    }
}

/// The billing service's routes.
pub struct BillingService {
    billing: Billing,
}

impl Service for BillingService {
    fn name(&self) -> &'static str {
        "billing"
    }

    fn configure(&self, cfg: &mut actix_web::web::ServiceConfig) {
        let gate: Arc<dyn PaymentGate> = Arc::new(gate::BillingGate::new(self.billing.clone()));
        tandem_shared::contracts::payment::configure(cfg, &self.billing.core.service_key, gate);
        routes::configure(cfg, &self.billing);
    }

    fn rate_limited_routes(&self) -> &'static [tandem_shared::rate_limit::http::RouteClass] {
        routes::RATE_LIMITED
    }
}

/// Build billing from explicit parts: install the payment gate, start the meter (stopped by
/// `core.shutdown`) and return the routes.
///
/// # Errors
/// Invalid settings.
pub fn service_with(billing: Billing, start_meter: bool) -> Arc<dyn Service> {
    billing.core.hooks.set_payment(Arc::new(gate::BillingGate::new(billing.clone())));
    if start_meter {
        meter::spawn(billing.clone());
    }
    Arc::new(BillingService { billing })
}

/// Build the billing service for `core` from the environment (see [`config`]).
///
/// # Errors
/// Invalid settings.
pub async fn service(core: &Core) -> anyhow::Result<Arc<dyn Service>> {
    let settings = BillingSettings::from_env(&core.settings)?;
    if settings.stripe.secret_key.is_none() {
        tracing::warn!("STRIPE_SECRET_KEY is not set: Stripe top-ups and payout execution are off");
    }
    let billing = Billing::new(core, settings, Arc::new(SystemClock))?;
    Ok(service_with(billing, true))
}
