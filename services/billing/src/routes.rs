//! HTTP handlers of the billing service.
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /v1/wallet` | any user | balance, frozen flag, latest entries |
//! | `POST /v1/wallet/top-ups` | any user | create a Stripe Checkout Session `{amount}` |
//! | `POST /v1/dev/wallet/top-ups` | any user | dev credit `{amount}` (only with `TANDEM_DEV_TOPUPS=1`) |
//! | `POST /v1/webhooks/stripe` | Stripe | signed events |
//! | `GET`/`PUT /v1/creator/pricing` | creator | own per-minute price |
//! | `GET /v1/creators/{id}/pricing` | any user | a creator's price |
//! | `POST /v1/tips` | any user in the room | `{room_id, amount, note?}`, optional `Idempotency-Key` |
//! | `GET /v1/creator/earnings` | creator | by day and by room |
//! | `GET`/`POST /v1/creator/payouts` | creator | list / request `{amount}` |
//! | `GET /v1/admin/payouts` | operator | open requests |
//! | `POST /v1/admin/payouts/{id}/execute` | operator | Stripe Connect transfer, then ledger; after the holding period |
//! | `PUT /v1/admin/creators/{id}/payout-account` | operator | set a creator's `{stripe_account_id}` (`acct_...`) |
//! | `POST /v1/admin/wallets/{user_id}/unfreeze` | operator | unfreeze a non-negative wallet |
//! | `GET /v1/admin/ledger-check` | operator | [`crate::ledger_check`] |

use crate::connect::ConnectedAccountId;
use crate::error::BillingError;
use crate::ledger::{self, AccountKind};
use crate::signature;
use crate::tips::TipRequest;
use crate::Billing;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use tandem_shared::auth::AuthUser;
use tandem_shared::ids::{Role, UserId};

/// Largest webhook body accepted.
const WEBHOOK_LIMIT: usize = 512 * 1024;

/// Register the routes (the dev route only when enabled).
pub fn configure(cfg: &mut web::ServiceConfig, billing: &Billing) {
    cfg.app_data(web::Data::new(billing.clone()))
        .route("/v1/wallet", web::get().to(wallet))
        .route("/v1/wallet/top-ups", web::post().to(top_up))
        .service(
            web::resource("/v1/webhooks/stripe")
                .app_data(web::PayloadConfig::new(WEBHOOK_LIMIT))
                .route(web::post().to(stripe_webhook)),
        )
        .route("/v1/creator/pricing", web::get().to(my_pricing))
        .route("/v1/creator/pricing", web::put().to(set_pricing))
        .route("/v1/creators/{creator_id}/pricing", web::get().to(creator_pricing))
        .route("/v1/tips", web::post().to(tip))
        .route("/v1/creator/earnings", web::get().to(earnings))
        .route("/v1/creator/payouts", web::get().to(my_payouts))
        .route("/v1/creator/payouts", web::post().to(request_payout))
        .route("/v1/admin/payouts", web::get().to(open_payouts))
        .route("/v1/admin/payouts/{payout_id}/execute", web::post().to(execute_payout))
        .route("/v1/admin/creators/{creator_id}/payout-account", web::put().to(set_payout_account))
        .route("/v1/admin/wallets/{user_id}/unfreeze", web::post().to(unfreeze))
        .route("/v1/admin/ledger-check", web::get().to(ledger_check));
    if billing.settings.dev_topups {
        cfg.route("/v1/dev/wallet/top-ups", web::post().to(dev_top_up));
    }
}

#[derive(Deserialize)]
struct AmountBody {
    amount: i64,
}

#[derive(Deserialize)]
struct PayoutAccountBody {
    stripe_account_id: String,
}

#[derive(Deserialize)]
struct PriceBody {
    price_per_minute: i64,
}

async fn wallet(b: web::Data<Billing>, user: AuthUser) -> Result<HttpResponse, BillingError> {
    let state = ledger::balance(&b.core.db, AccountKind::Wallet, user.user_id, b.currency()).await?;
    let entries = ledger::recent_entries(&b.core.db, AccountKind::Wallet, user.user_id, b.currency(), 50).await?;
    Ok(HttpResponse::Ok().json(json!({
        "currency": b.currency(),
        "balance": state.balance,
        "frozen": state.frozen,
        "entries": entries,
    })))
}

async fn top_up(
    b: web::Data<Billing>,
    user: AuthUser,
    body: web::Json<AmountBody>,
) -> Result<HttpResponse, BillingError> {
    let session = b.create_top_up(user.user_id, body.amount).await?;
    Ok(HttpResponse::Created().json(session))
}

async fn dev_top_up(
    b: web::Data<Billing>,
    user: AuthUser,
    body: web::Json<AmountBody>,
) -> Result<HttpResponse, BillingError> {
    let state = b.dev_top_up(user.user_id, body.amount).await?;
    Ok(HttpResponse::Ok().json(json!({"currency": b.currency(), "balance": state.balance, "frozen": state.frozen})))
}

async fn stripe_webhook(
    b: web::Data<Billing>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, BillingError> {
    let stripe = &b.settings.stripe;
    let secret = stripe.webhook_secret.as_deref().ok_or(BillingError::NotConfigured("STRIPE_WEBHOOK_SECRET"))?;
    let header =
        req.headers().get("stripe-signature").and_then(|v| v.to_str().ok()).ok_or(BillingError::InvalidSignature)?;
    let tolerance = i64::try_from(stripe.webhook_tolerance.as_secs()).unwrap_or(300);
    if let Err(e) = signature::verify(&body, header, secret, b.clock.now().timestamp(), tolerance) {
        tracing::warn!(reason = %e, "refused a Stripe webhook");
        metrics::counter!("billing_webhooks_refused_total").increment(1);
        return Err(BillingError::InvalidSignature);
    }
    let outcome = b.apply_stripe_event(&body).await?;
    Ok(HttpResponse::Ok().json(json!({"received": true, "outcome": outcome})))
}

async fn my_pricing(b: web::Data<Billing>, user: AuthUser) -> Result<HttpResponse, BillingError> {
    user.require(Role::Creator)?;
    Ok(HttpResponse::Ok().json(b.price_of(user.user_id).await?))
}

async fn set_pricing(
    b: web::Data<Billing>,
    user: AuthUser,
    body: web::Json<PriceBody>,
) -> Result<HttpResponse, BillingError> {
    user.require(Role::Creator)?;
    Ok(HttpResponse::Ok().json(b.set_price(user.user_id, body.price_per_minute).await?))
}

async fn creator_pricing(
    b: web::Data<Billing>,
    _user: AuthUser,
    path: web::Path<UserId>,
) -> Result<HttpResponse, BillingError> {
    let creator = path.into_inner();
    let role: Option<String> = sqlx::query_scalar("select role from users where user_id = $1")
        .bind(creator)
        .fetch_optional(&b.core.db)
        .await?;
    if role.as_deref() != Some("creator") {
        return Err(BillingError::NotFound("creator"));
    }
    Ok(HttpResponse::Ok().json(b.price_of(creator).await?))
}

async fn tip(
    b: web::Data<Billing>,
    user: AuthUser,
    req: HttpRequest,
    body: web::Json<TipRequest>,
) -> Result<HttpResponse, BillingError> {
    let key = req.headers().get("idempotency-key").and_then(|v| v.to_str().ok());
    let receipt = b.tip(user.user_id, &body, key).await?;
    Ok(HttpResponse::Created().json(receipt))
}

async fn earnings(b: web::Data<Billing>, user: AuthUser) -> Result<HttpResponse, BillingError> {
    user.require(Role::Creator)?;
    Ok(HttpResponse::Ok().json(b.earnings(user.user_id).await?))
}

async fn my_payouts(b: web::Data<Billing>, user: AuthUser) -> Result<HttpResponse, BillingError> {
    user.require(Role::Creator)?;
    Ok(HttpResponse::Ok().json(json!({"payouts": b.payouts(Some(user.user_id)).await?})))
}

async fn request_payout(
    b: web::Data<Billing>,
    user: AuthUser,
    body: web::Json<AmountBody>,
) -> Result<HttpResponse, BillingError> {
    user.require(Role::Creator)?;
    Ok(HttpResponse::Created().json(b.request_payout(user.user_id, body.amount).await?))
}

async fn open_payouts(b: web::Data<Billing>, user: AuthUser) -> Result<HttpResponse, BillingError> {
    user.require(Role::Operator)?;
    Ok(HttpResponse::Ok().json(json!({"payouts": b.payouts(None).await?})))
}

async fn execute_payout(
    b: web::Data<Billing>,
    user: AuthUser,
    path: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, BillingError> {
    user.require(Role::Operator)?;
    Ok(HttpResponse::Ok().json(b.execute_payout(path.into_inner(), user.user_id).await?))
}

async fn set_payout_account(
    b: web::Data<Billing>,
    user: AuthUser,
    path: web::Path<UserId>,
    body: web::Json<PayoutAccountBody>,
) -> Result<HttpResponse, BillingError> {
    user.require(Role::Operator)?;
    let account = ConnectedAccountId::parse(body.stripe_account_id.trim()).map_err(BillingError::Validation)?;
    Ok(HttpResponse::Ok().json(b.set_payout_account(path.into_inner(), &account, user.user_id).await?))
}

async fn unfreeze(
    b: web::Data<Billing>,
    user: AuthUser,
    path: web::Path<UserId>,
) -> Result<HttpResponse, BillingError> {
    user.require(Role::Operator)?;
    let state = b.unfreeze(path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({"balance": state.balance, "frozen": state.frozen})))
}

async fn ledger_check(b: web::Data<Billing>, user: AuthUser) -> Result<HttpResponse, BillingError> {
    user.require(Role::Operator)?;
    let report = crate::ledger_check(&b.core.db).await?;
    Ok(HttpResponse::Ok().json(json!({"ok": report.is_ok(), "report": report})))
}
