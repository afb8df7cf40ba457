//! Integration tests of the billing service against real PostgreSQL and Redis, with a Stripe
//! stand-in server (see `stripe_standin.rs`).

mod accounts;
mod contract;
mod helpers;
mod ledger;
mod metering;
mod payouts;
mod stripe;
mod stripe_standin;
mod tips;
mod verification;
