//! [`BillingSettings`]: the billing service's configuration, read from the environment.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `TANDEM_BILLING_CURRENCY` | `usd` | currency of every wallet and price (one per deployment) |
//! | `STRIPE_SECRET_KEY` | unset | Stripe API key (Checkout top-ups, Connect transfers for payouts); without it top-ups and payout execution answer 503 |
//! | `STRIPE_WEBHOOK_SECRET` | unset | endpoint signing secret (`whsec_...`); without it webhooks answer 503 |
//! | `STRIPE_API_BASE` | `https://api.stripe.com/` | where the Stripe client sends requests |
//! | `STRIPE_WEBHOOK_TOLERANCE_SECS` | `300` | largest accepted age of a signed webhook |
//! | `TANDEM_TOPUP_SUCCESS_URL` / `TANDEM_TOPUP_CANCEL_URL` | `<public url>/?topup=success` / `cancelled` | Checkout redirects |
//! | `TANDEM_DEV_TOPUPS` | `0` | `1` mounts `POST /v1/dev/wallet/top-ups` (refused in production) |
//! | `TANDEM_TOPUP_MIN` / `TANDEM_TOPUP_MAX` | `100` / `50000` | bounds of one top-up, minor units |
//! | `TANDEM_TOPUP_DAILY_MAX` | `100000` | top-ups per user per rolling 24 h, minor units |
//! | `TANDEM_PRICE_MIN` / `TANDEM_PRICE_MAX` | `0` / `10000` | bounds of a creator's per-minute price |
//! | `TANDEM_DEFAULT_PRICE_PER_MINUTE` | `0` | price of creators who never set one (0 = free) |
//! | `TANDEM_CREATOR_SHARE_BPS` | `8000` | creator's share of minutes and tips, basis points |
//! | `TANDEM_TIP_MIN` / `TANDEM_TIP_MAX` | `1` / `100000` | bounds of one tip |
//! | `TANDEM_PAYOUT_HOLD_HOURS` | `168` | holding period before a payout request can be executed |
//! | `TANDEM_PAYOUT_MIN` | `1000` | smallest payout request |
//! | `TANDEM_METER_INTERVAL_MS` | `1000` | how often the meter looks for minutes that started |
//! | `TANDEM_CREATOR_VERIFICATION` | `auto` (development) / `required` (production) | `required`: creators go live, set a price and accept private sessions only once verified (Stripe Identity with `STRIPE_SECRET_KEY`, or an operator's approval); `auto`: every creator counts as verified |
//! | `TANDEM_VERIFICATION_RETURN_URL` | `<public url>/?verification=done` | where Stripe Identity sends the creator back |
//! | `TANDEM_BILLING_MINUTE_SECS` | `60` | length of a billed minute; shorter only outside production (browser tests use 30) |

use anyhow::Context;
use std::time::Duration;
use tandem_shared::config::{CoreSettings, Environment};

/// Currencies the deployment may use, with the `&'static str` the payment gate hands out.
const CURRENCIES: &[&str] = &["usd", "eur", "gbp", "cad", "aud", "chf", "jpy", "sek", "nok", "dkk", "pln", "brl"];

/// Inclusive bounds of an amount, minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Smallest allowed.
    pub min: i64,
    /// Largest allowed.
    pub max: i64,
}

impl Bounds {
    /// Whether `v` is inside.
    pub fn contains(&self, v: i64) -> bool {
        (self.min..=self.max).contains(&v)
    }
}

/// Stripe connection settings. Secrets are never logged (`Debug` redacts them).
#[derive(Clone)]
pub struct StripeSettings {
    /// API key, if top-ups and payout transfers through Stripe are on.
    pub secret_key: Option<String>,
    /// Endpoint signing secret, if webhooks are on.
    pub webhook_secret: Option<String>,
    /// Base URL of the Stripe API (a stand-in in tests).
    pub api_base: Option<String>,
    /// Largest accepted webhook age (and clock skew).
    pub webhook_tolerance: Duration,
    /// Where Checkout sends the fan after paying.
    pub success_url: String,
    /// Where Checkout sends the fan after giving up.
    pub cancel_url: String,
}

impl std::fmt::Debug for StripeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeSettings")
            .field("secret_key", &self.secret_key.as_ref().map(|_| "<set>"))
            .field("webhook_secret", &self.webhook_secret.as_ref().map(|_| "<set>"))
            .field("api_base", &self.api_base)
            .field("webhook_tolerance", &self.webhook_tolerance)
            .finish_non_exhaustive()
    }
}

/// Whether creators must be verified before they earn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationMode {
    /// Every creator counts as verified (development, the README quick start).
    Auto,
    /// Stripe Identity or an operator's approval first.
    Required,
}

/// Everything billing reads at start.
#[derive(Debug, Clone)]
pub struct BillingSettings {
    /// Lowercase ISO currency of the deployment.
    pub currency: &'static str,
    /// Stripe settings.
    pub stripe: StripeSettings,
    /// Whether the development top-up route is mounted.
    pub dev_topups: bool,
    /// One top-up.
    pub topup: Bounds,
    /// Top-ups per user per rolling 24 hours.
    pub topup_daily_max: i64,
    /// A creator's per-minute price.
    pub price: Bounds,
    /// Price of creators without a pricing row.
    pub default_price: i64,
    /// Creator's share of spends in basis points (the platform keeps the rest).
    pub creator_share_bps: u16,
    /// One tip.
    pub tip: Bounds,
    /// Holding period of payout requests.
    pub payout_hold: Duration,
    /// Smallest payout request.
    pub payout_min: i64,
    /// Meter tick period.
    pub meter_interval: Duration,
    /// Length of a billed minute (60 s; shorter only outside production, for tests).
    pub billing_minute: Duration,
    /// Whether creators must be verified.
    pub verification: VerificationMode,
    /// Where Stripe Identity sends the creator back.
    pub verification_return_url: String,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn num<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match var(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().ok().with_context(|| format!("{name} must be a non-negative integer, not `{v}`")),
    }
}

impl BillingSettings {
    /// Read the settings, applying the documented defaults.
    ///
    /// # Errors
    /// A variable that does not parse, inconsistent bounds, an unsupported currency, or dev
    /// top-ups requested in production.
    pub fn from_env(core: &CoreSettings) -> anyhow::Result<Self> {
        let currency_raw = var("TANDEM_BILLING_CURRENCY").unwrap_or_else(|| "usd".into()).to_lowercase();
        let currency = CURRENCIES
            .iter()
            .copied()
            .find(|c| *c == currency_raw)
            .with_context(|| format!("TANDEM_BILLING_CURRENCY `{currency_raw}` is not one of {CURRENCIES:?}"))?;
        let dev_topups = var("TANDEM_DEV_TOPUPS").as_deref() == Some("1");
        if dev_topups && core.environment == Environment::Production {
            anyhow::bail!("TANDEM_DEV_TOPUPS=1 is refused when TANDEM_ENV=production");
        }
        let base = core.public_url.trim_end_matches('/');
        let settings = Self {
            currency,
            stripe: StripeSettings {
                secret_key: var("STRIPE_SECRET_KEY"),
                webhook_secret: var("STRIPE_WEBHOOK_SECRET"),
                api_base: var("STRIPE_API_BASE"),
                webhook_tolerance: Duration::from_secs(num("STRIPE_WEBHOOK_TOLERANCE_SECS", 300)?),
                success_url: var("TANDEM_TOPUP_SUCCESS_URL").unwrap_or_else(|| format!("{base}/?topup=success")),
                cancel_url: var("TANDEM_TOPUP_CANCEL_URL").unwrap_or_else(|| format!("{base}/?topup=cancelled")),
            },
            dev_topups,
            topup: Bounds { min: num("TANDEM_TOPUP_MIN", 100)?, max: num("TANDEM_TOPUP_MAX", 50_000)? },
            topup_daily_max: num("TANDEM_TOPUP_DAILY_MAX", 100_000)?,
            price: Bounds { min: num("TANDEM_PRICE_MIN", 0)?, max: num("TANDEM_PRICE_MAX", 10_000)? },
            default_price: num("TANDEM_DEFAULT_PRICE_PER_MINUTE", 0)?,
            creator_share_bps: num("TANDEM_CREATOR_SHARE_BPS", 8_000)?,
            tip: Bounds { min: num("TANDEM_TIP_MIN", 1)?, max: num("TANDEM_TIP_MAX", 100_000)? },
            payout_hold: Duration::from_secs(num::<u64>("TANDEM_PAYOUT_HOLD_HOURS", 168)? * 3600),
            payout_min: num("TANDEM_PAYOUT_MIN", 1_000)?,
            meter_interval: Duration::from_millis(num("TANDEM_METER_INTERVAL_MS", 1_000)?.max(50)),
            billing_minute: Duration::from_secs(num("TANDEM_BILLING_MINUTE_SECS", 60)?),
            verification: match var("TANDEM_CREATOR_VERIFICATION").as_deref().map(str::trim) {
                None if core.environment == Environment::Production => VerificationMode::Required,
                None | Some("auto") => VerificationMode::Auto,
                Some("required") => VerificationMode::Required,
                Some(other) => anyhow::bail!("TANDEM_CREATOR_VERIFICATION must be `auto` or `required`, not `{other}`"),
            },
            verification_return_url: var("TANDEM_VERIFICATION_RETURN_URL")
                .unwrap_or_else(|| format!("{base}/?verification=done")),
        };
        if core.environment == Environment::Production && settings.verification == VerificationMode::Auto {
            anyhow::bail!("TANDEM_CREATOR_VERIFICATION=auto is refused when TANDEM_ENV=production");
        }
        if core.environment == Environment::Production && settings.billing_minute != Duration::from_secs(60) {
            anyhow::bail!("TANDEM_BILLING_MINUTE_SECS is refused when TANDEM_ENV=production (a minute is 60 s)");
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Check that bounds are ordered and positive where they must be.
    ///
    /// # Errors
    /// The first inconsistency found.
    pub fn validate(&self) -> anyhow::Result<()> {
        for (name, b) in [("TANDEM_TOPUP", self.topup), ("TANDEM_PRICE", self.price), ("TANDEM_TIP", self.tip)] {
            anyhow::ensure!(b.min >= 0 && b.min <= b.max, "{name}_MIN must be between 0 and {name}_MAX");
        }
        anyhow::ensure!(self.topup.min > 0 && self.tip.min > 0, "TANDEM_TOPUP_MIN and TANDEM_TIP_MIN must be positive");
        anyhow::ensure!(self.creator_share_bps <= 10_000, "TANDEM_CREATOR_SHARE_BPS must be at most 10000");
        anyhow::ensure!(
            self.default_price == 0 || self.price.contains(self.default_price),
            "TANDEM_DEFAULT_PRICE_PER_MINUTE must be 0 or within TANDEM_PRICE_MIN..=TANDEM_PRICE_MAX"
        );
        anyhow::ensure!(self.payout_min > 0, "TANDEM_PAYOUT_MIN must be positive");
        anyhow::ensure!(
            (5..=60).contains(&self.billing_minute.as_secs()),
            "TANDEM_BILLING_MINUTE_SECS must be between 5 and 60"
        );
        Ok(())
    }
}
