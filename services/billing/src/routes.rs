//! HTTP handlers of the billing service, and its OpenAPI document ([`crate::openapi`]).
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
//! | `GET /v1/verification` | creator | verification status and what is missing |
//! | `POST /v1/verification/stripe` | creator | open a Stripe Identity session |
//! | `GET /v1/admin/verifications` | operator | creators waiting for a decision |
//! | `POST /v1/admin/verifications/{user_id}` | operator | approve or reject `{decision, reason}` |

use crate::connect::ConnectedAccountId;
use crate::earnings::{Payout, PayoutAccount};
use crate::error::BillingError;
use crate::ledger::{self, AccountKind};
use crate::signature;
use crate::tips::TipRequest;
use crate::Billing;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use tandem_shared::audit::{Actor, AuditAction, AuditEntry};
use tandem_shared::auth::AuthUser;
use tandem_shared::error::ErrorBody as ErrorDoc;
use tandem_shared::ids::{Role, UserId};
use tandem_shared::openapi::{BearerAuth, ErrorResponses};
use tandem_shared::rate_limit::http::RouteClass;
use tandem_shared::rate_limit::Class;
use tandem_shared::webhook::read_body;
use utoipa::{OpenApi, ToSchema};

/// Largest webhook body accepted (Stripe events are a few KB).
pub(crate) const WEBHOOK_LIMIT: usize = 256 * 1024;

/// Billing's public write routes and their rate-limit class.
pub const RATE_LIMITED: &[RouteClass] = &[
    RouteClass::new("POST", "/v1/wallet/top-ups", Class::Money),
    RouteClass::new("POST", "/v1/dev/wallet/top-ups", Class::Money),
    RouteClass::new("POST", "/v1/webhooks/stripe", Class::Webhook),
    RouteClass::new("PUT", "/v1/creator/pricing", Class::Write),
    RouteClass::new("POST", "/v1/tips", Class::Money),
    RouteClass::new("POST", "/v1/creator/payouts", Class::Money),
    RouteClass::new("POST", "/v1/admin/payouts/{payout_id}/execute", Class::Admin),
    RouteClass::new("PUT", "/v1/admin/creators/{creator_id}/payout-account", Class::Admin),
    RouteClass::new("POST", "/v1/admin/wallets/{user_id}/unfreeze", Class::Admin),
    RouteClass::new("POST", "/v1/verification/stripe", Class::Money),
    RouteClass::new("POST", "/v1/admin/verifications/{user_id}", Class::Admin),
];

/// Register the routes (the dev route only when enabled).
pub fn configure(cfg: &mut web::ServiceConfig, billing: &Billing) {
    cfg.app_data(web::Data::new(billing.clone()))
        .route("/v1/wallet", web::get().to(wallet))
        .route("/v1/wallet/top-ups", web::post().to(top_up))
        .service(web::resource("/v1/webhooks/stripe").route(web::post().to(stripe_webhook)))
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
        .route("/v1/admin/ledger-check", web::get().to(ledger_check))
        .route("/v1/verification", web::get().to(my_verification))
        .route("/v1/verification/stripe", web::post().to(start_identity))
        .route("/v1/admin/verifications", web::get().to(open_verifications))
        .route("/v1/admin/verifications/{user_id}", web::post().to(decide_verification));
    if billing.settings.dev_topups {
        cfg.route("/v1/dev/wallet/top-ups", web::post().to(dev_top_up));
    }
}

/// `{amount}` in minor units of the deployment currency.
#[derive(Deserialize, ToSchema)]
struct AmountBody {
    amount: i64,
}

/// A creator's Stripe connected account.
#[derive(Deserialize, ToSchema)]
struct PayoutAccountBody {
    /// `acct_` followed by letters and digits.
    stripe_account_id: String,
}

/// A creator's per-minute price in minor units (0 = free).
#[derive(Deserialize, ToSchema)]
struct PriceBody {
    price_per_minute: i64,
}

/// The error responses every route's shape implies (webhook bodies are read raw).
const ERRORS: ErrorResponses = ErrorResponses { raw_bodies: &["/v1/webhooks/stripe"] };

#[derive(OpenApi)]
#[openapi(
    info(title = "Tandem API", description = "Tandem billing: wallets, Stripe top-ups, prices, tips, earnings, payouts."),
    paths(
        wallet, top_up, dev_top_up, stripe_webhook, my_pricing, set_pricing, creator_pricing, tip, earnings,
        my_payouts, request_payout, open_payouts, execute_payout, set_payout_account, unfreeze, ledger_check,
        my_verification, start_identity, open_verifications, decide_verification,
    ),
    components(schemas(ErrorDoc, AmountBody, PriceBody, PayoutAccountBody, TipRequest, Payout, PayoutAccount,
        crate::verification::VerificationView, crate::verification::VerificationStatus,
        crate::verification::IdentitySession, crate::verification::DecisionBody, crate::verification::Decision)),
    modifiers(&BearerAuth, &ERRORS),
    tags(
        (name = "wallet", description = "Fans' prepaid wallets and Stripe Checkout top-ups"),
        (name = "creator", description = "Prices, earnings and payout requests of creators"),
        (name = "tips", description = "Tips in broadcast and private rooms"),
        (name = "billing-admin", description = "Operator actions: payouts, wallets, ledger check"),
        (name = "stripe", description = "Stripe webhooks"),
        (name = "verification", description = "Creator identity verification (Stripe Identity or an operator)"),
    )
)]
struct BillingApi;

/// Billing's OpenAPI 3 document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    BillingApi::openapi()
}

#[utoipa::path(get, path = "/v1/wallet", tag = "wallet", security(("bearer" = [])),
    responses((status = 200, body = Object, description = "`{currency, balance, frozen, entries}` (50 latest entries)"), (status = 401, body = ErrorDoc)))]
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

#[utoipa::path(post, path = "/v1/wallet/top-ups", tag = "wallet", request_body = AmountBody, security(("bearer" = [])),
    responses((status = 201, body = Object, description = "`{session_id, url, amount, currency}`: send the fan to `url`"),
        (status = 400, body = ErrorDoc), (status = 403, body = ErrorDoc, description = "email_unverified"), (status = 429, body = ErrorDoc, description = "limit_reached"), (status = 502, body = ErrorDoc), (status = 503, body = ErrorDoc, description = "not_configured")))]
async fn top_up(
    b: web::Data<Billing>,
    user: AuthUser,
    body: web::Json<AmountBody>,
) -> Result<HttpResponse, BillingError> {
    user.require_verified()?;
    let session = b.create_top_up(user.user_id, body.amount).await?;
    Ok(HttpResponse::Created().json(session))
}

#[utoipa::path(post, path = "/v1/dev/wallet/top-ups", tag = "wallet", request_body = AmountBody, security(("bearer" = [])),
    description = "Only mounted with `TANDEM_DEV_TOPUPS=1` (never in production).",
    responses((status = 200, body = Object, description = "`{currency, balance, frozen}`"), (status = 400, body = ErrorDoc),
        (status = 403, body = ErrorDoc, description = "email_unverified"),
        (status = 404, body = ErrorDoc, description = "`not_found`: dev top-ups are off on this deployment"), (status = 429, body = ErrorDoc)))]
async fn dev_top_up(
    b: web::Data<Billing>,
    user: AuthUser,
    body: web::Json<AmountBody>,
) -> Result<HttpResponse, BillingError> {
    user.require_verified()?;
    let state = b.dev_top_up(user.user_id, body.amount).await?;
    Ok(HttpResponse::Ok().json(json!({"currency": b.currency(), "balance": state.balance, "frozen": state.frozen})))
}

#[utoipa::path(post, path = "/v1/webhooks/stripe", tag = "stripe", request_body(content = Object, description = "A Stripe event, signed in `Stripe-Signature`"),
    responses((status = 200, body = Object, description = "`{received, outcome: credited|debited|duplicate|ignored}`"),
        (status = 400, body = ErrorDoc, description = "invalid_signature or invalid_input"),
        (status = 413, body = ErrorDoc, description = "payload_too_large (over 256 KB)"), (status = 503, body = ErrorDoc)))]
async fn stripe_webhook(
    b: web::Data<Billing>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, BillingError> {
    let stripe = &b.settings.stripe;
    let secret = stripe.webhook_secret.as_deref().ok_or(BillingError::NotConfigured("STRIPE_WEBHOOK_SECRET"))?;
    let header =
        req.headers().get("stripe-signature").and_then(|v| v.to_str().ok()).ok_or(BillingError::InvalidSignature)?;
    let now = b.clock.now().timestamp();
    // A malformed or stale header is refused before the body is read or hashed.
    let parsed = signature::SignatureHeader::parse(header)
        .and_then(|p| p.check_fresh(now, stripe.webhook_tolerance.as_secs()).map(|()| p))
        .map_err(refused_webhook)?;
    let body = read_body(&req, payload, WEBHOOK_LIMIT).await?;
    parsed.check_mac(|t| signature::expected(&body, secret, t)).map_err(refused_webhook)?;
    let outcome = b.apply_stripe_event(&body).await?;
    Ok(HttpResponse::Ok().json(json!({"received": true, "outcome": outcome})))
}

fn refused_webhook(e: signature::SignatureError) -> BillingError {
    tracing::warn!(reason = %e, "refused a Stripe webhook");
    metrics::counter!("billing_webhooks_refused_total").increment(1);
    BillingError::InvalidSignature
}

#[utoipa::path(get, path = "/v1/creator/pricing", tag = "creator", security(("bearer" = [])),
    responses((status = 200, body = Object, description = "`{creator_id, price_per_minute, currency}`"), (status = 403, body = ErrorDoc)))]
async fn my_pricing(b: web::Data<Billing>, user: AuthUser) -> Result<HttpResponse, BillingError> {
    user.require(Role::Creator)?;
    Ok(HttpResponse::Ok().json(b.price_of(user.user_id).await?))
}

#[utoipa::path(put, path = "/v1/creator/pricing", tag = "creator", request_body = PriceBody, security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 400, body = ErrorDoc, description = "outside the operator bounds"),
        (status = 403, body = ErrorDoc, description = "not a creator, or `verification_required`")))]
async fn set_pricing(
    b: web::Data<Billing>,
    user: AuthUser,
    body: web::Json<PriceBody>,
) -> Result<HttpResponse, BillingError> {
    user.require(Role::Creator)?;
    Ok(HttpResponse::Ok().json(b.set_price(user.user_id, body.price_per_minute).await?))
}

#[utoipa::path(get, path = "/v1/creators/{creator_id}/pricing", tag = "creator", security(("bearer" = [])),
    params(("creator_id" = String, Path, description = "creator's user id")),
    responses((status = 200, body = Object), (status = 404, body = ErrorDoc)))]
async fn creator_pricing(
    b: web::Data<Billing>,
    _user: AuthUser,
    path: web::Path<UserId>,
) -> Result<HttpResponse, BillingError> {
    let creator = path.into_inner();
    let role = b.user(creator).await?.map(|u| u.role);
    if role != Some(Role::Creator) {
        return Err(BillingError::NotFound("creator"));
    }
    Ok(HttpResponse::Ok().json(b.price_of(creator).await?))
}

#[utoipa::path(post, path = "/v1/tips", tag = "tips", request_body = TipRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "makes a retried tip apply once")),
    responses((status = 201, body = Object, description = "the receipt"), (status = 400, body = ErrorDoc), (status = 402, body = ErrorDoc, description = "insufficient_funds"),
        (status = 403, body = ErrorDoc, description = "wallet_frozen, not in the room, or email_unverified"), (status = 404, body = ErrorDoc, description = "no such room"),
        (status = 409, body = ErrorDoc, description = "room_not_live")))]
async fn tip(
    b: web::Data<Billing>,
    user: AuthUser,
    req: HttpRequest,
    body: web::Json<TipRequest>,
) -> Result<HttpResponse, BillingError> {
    user.require_verified()?;
    let key = req.headers().get("idempotency-key").and_then(|v| v.to_str().ok());
    let receipt = b.tip(user.user_id, &body, key).await?;
    Ok(HttpResponse::Created().json(receipt))
}

#[utoipa::path(get, path = "/v1/creator/earnings", tag = "creator", security(("bearer" = [])),
    responses((status = 200, body = Object, description = "balance, pending payouts, available, by_day, by_room"), (status = 403, body = ErrorDoc)))]
async fn earnings(b: web::Data<Billing>, user: AuthUser) -> Result<HttpResponse, BillingError> {
    user.require(Role::Creator)?;
    Ok(HttpResponse::Ok().json(b.earnings(user.user_id).await?))
}

#[utoipa::path(get, path = "/v1/creator/payouts", tag = "creator", security(("bearer" = [])),
    responses((status = 200, body = Object, description = "`{payouts: [Payout]}`"), (status = 403, body = ErrorDoc)))]
async fn my_payouts(b: web::Data<Billing>, user: AuthUser) -> Result<HttpResponse, BillingError> {
    user.require(Role::Creator)?;
    Ok(HttpResponse::Ok().json(json!({"payouts": b.payouts(Some(user.user_id)).await?})))
}

#[utoipa::path(post, path = "/v1/creator/payouts", tag = "creator", request_body = AmountBody, security(("bearer" = [])),
    responses((status = 201, body = Payout), (status = 400, body = ErrorDoc),
        (status = 403, body = ErrorDoc, description = "forbidden (not a creator), email_unverified, second_factor_required (enrol TOTP and sign in with a code)"),
        (status = 409, body = ErrorDoc, description = "insufficient_earnings")))]
async fn request_payout(
    b: web::Data<Billing>,
    user: AuthUser,
    body: web::Json<AmountBody>,
) -> Result<HttpResponse, BillingError> {
    user.require(Role::Creator)?;
    // Being paid needs a verified address and two-factor sign-in.
    user.require_verified()?;
    user.require_second_factor()?;
    Ok(HttpResponse::Created().json(b.request_payout(user.user_id, body.amount).await?))
}

#[utoipa::path(get, path = "/v1/admin/payouts", tag = "billing-admin", security(("bearer" = [])),
    responses((status = 200, body = Object, description = "`{payouts: [Payout]}` still requested"), (status = 403, body = ErrorDoc)))]
async fn open_payouts(b: web::Data<Billing>, user: AuthUser) -> Result<HttpResponse, BillingError> {
    user.require(Role::Operator)?;
    Ok(HttpResponse::Ok().json(json!({"payouts": b.payouts(None).await?})))
}

#[utoipa::path(post, path = "/v1/admin/payouts/{payout_id}/execute", tag = "billing-admin", security(("bearer" = [])),
    description = "Transfers the payout to the creator's Stripe connected account, then records it in the ledger. Idempotent.",
    params(("payout_id" = String, Path, description = "payout id")),
    responses((status = 200, body = Payout), (status = 403, body = ErrorDoc), (status = 404, body = ErrorDoc),
        (status = 409, body = ErrorDoc, description = "payout_on_hold, payout_cancelled, no_payout_account, insufficient_earnings"),
        (status = 502, body = ErrorDoc, description = "Stripe failed; the payout stays requested with `last_error`"), (status = 503, body = ErrorDoc, description = "not_configured")))]
async fn execute_payout(
    b: web::Data<Billing>,
    user: AuthUser,
    path: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, BillingError> {
    user.require(Role::Operator)?;
    let payout = b.execute_payout(path.into_inner(), user.user_id).await?;
    if payout.status == "paid" {
        let entry = AuditEntry {
            actor: Actor::User { user_id: user.user_id },
            action: AuditAction::PayoutExecuted,
            target_user: Some(payout.creator_id),
            room_id: None,
            reason: "payout executed".into(),
            service: "billing".into(),
            // Executing a paid payout again changes nothing, and is logged once.
            details: json!({"payout_id": payout.payout_id, "amount": payout.amount, "currency": payout.currency,
                "idempotency_key": format!("payout:{}", payout.payout_id)}),
        };
        tandem_shared::audit::record(&b.core.hooks, entry).await;
    }
    Ok(HttpResponse::Ok().json(payout))
}

#[utoipa::path(put, path = "/v1/admin/creators/{creator_id}/payout-account", tag = "billing-admin", request_body = PayoutAccountBody, security(("bearer" = [])),
    params(("creator_id" = String, Path, description = "creator's user id")),
    responses((status = 200, body = PayoutAccount), (status = 400, body = ErrorDoc), (status = 403, body = ErrorDoc), (status = 404, body = ErrorDoc)))]
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

#[utoipa::path(post, path = "/v1/admin/wallets/{user_id}/unfreeze", tag = "billing-admin", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "the fan's user id")),
    responses((status = 200, body = Object, description = "`{balance, frozen}`"), (status = 403, body = ErrorDoc), (status = 409, body = ErrorDoc, description = "wallet_negative")))]
async fn unfreeze(
    b: web::Data<Billing>,
    user: AuthUser,
    path: web::Path<UserId>,
) -> Result<HttpResponse, BillingError> {
    user.require(Role::Operator)?;
    let target = path.into_inner();
    let state = b.unfreeze(target).await?;
    let entry = AuditEntry {
        actor: Actor::User { user_id: user.user_id },
        action: AuditAction::WalletUnfrozen,
        target_user: Some(target),
        room_id: None,
        reason: "wallet unfrozen".into(),
        service: "billing".into(),
        details: json!({"balance": state.balance}),
    };
    tandem_shared::audit::record(&b.core.hooks, entry).await;
    Ok(HttpResponse::Ok().json(json!({"balance": state.balance, "frozen": state.frozen})))
}

#[utoipa::path(get, path = "/v1/admin/ledger-check", tag = "billing-admin", security(("bearer" = [])),
    responses((status = 200, body = Object, description = "`{ok, report}`"), (status = 403, body = ErrorDoc)))]
async fn ledger_check(b: web::Data<Billing>, user: AuthUser) -> Result<HttpResponse, BillingError> {
    user.require(Role::Operator)?;
    let report = crate::ledger_check(&b.core.db).await?;
    Ok(HttpResponse::Ok().json(json!({"ok": report.is_ok(), "report": report})))
}

/// The caller's (a creator's) verification: status, whether it is required here and what is
/// missing.
#[utoipa::path(get, path = "/v1/verification", tag = "verification", security(("bearer" = [])),
    responses((status = 200, body = crate::verification::VerificationView), (status = 401, body = ErrorDoc), (status = 403, body = ErrorDoc, description = "not a creator")))]
async fn my_verification(b: web::Data<Billing>, user: AuthUser) -> Result<HttpResponse, BillingError> {
    user.require(Role::Creator)?;
    Ok(HttpResponse::Ok().json(b.verification(user.user_id).await?))
}

/// Open a Stripe Identity verification session; send the creator to its `url`. Stripe's signed
/// `identity.verification_session.verified` webhook then verifies them.
#[utoipa::path(post, path = "/v1/verification/stripe", tag = "verification", security(("bearer" = [])),
    responses((status = 201, body = crate::verification::IdentitySession), (status = 401, body = ErrorDoc),
        (status = 403, body = ErrorDoc, description = "not a creator"), (status = 409, body = ErrorDoc, description = "already_verified"),
        (status = 502, body = ErrorDoc, description = "payment_provider_error: Stripe failed"),
        (status = 503, body = ErrorDoc, description = "not_configured: no STRIPE_SECRET_KEY (an operator approves instead)")))]
async fn start_identity(b: web::Data<Billing>, user: AuthUser) -> Result<HttpResponse, BillingError> {
    user.require(Role::Creator)?;
    Ok(HttpResponse::Created().json(b.start_identity(user.user_id).await?))
}

/// Operators: creators whose Stripe Identity check is open or needs input.
#[utoipa::path(get, path = "/v1/admin/verifications", tag = "verification", security(("bearer" = [])),
    responses((status = 200, body = Object, description = "`{verifications: [{creator_id, status, updated_at}]}`"), (status = 401, body = ErrorDoc), (status = 403, body = ErrorDoc)))]
async fn open_verifications(b: web::Data<Billing>, user: AuthUser) -> Result<HttpResponse, BillingError> {
    user.require(Role::Operator)?;
    let rows: Vec<_> = b
        .open_verifications()
        .await?
        .into_iter()
        .map(|(creator_id, status, updated_at)| json!({"creator_id": creator_id, "status": status, "updated_at": updated_at}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "verifications": rows })))
}

/// Operators: approve or reject a creator's verification (written to the audit log).
#[utoipa::path(post, path = "/v1/admin/verifications/{user_id}", tag = "verification", request_body = crate::verification::DecisionBody, security(("bearer" = [])),
    params(("user_id" = String, Path, description = "the creator's user id")),
    responses((status = 200, body = crate::verification::VerificationView), (status = 400, body = ErrorDoc), (status = 401, body = ErrorDoc),
        (status = 403, body = ErrorDoc), (status = 404, body = ErrorDoc, description = "not a creator")))]
async fn decide_verification(
    b: web::Data<Billing>,
    user: AuthUser,
    path: web::Path<UserId>,
    body: web::Json<crate::verification::DecisionBody>,
) -> Result<HttpResponse, BillingError> {
    user.require(Role::Operator)?;
    Ok(HttpResponse::Ok().json(b.decide_verification(user.user_id, path.into_inner(), &body).await?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_lists_the_billing_routes() {
        let doc = serde_json::to_value(super::openapi()).expect("serializable");
        for (path, method) in [
            ("/v1/wallet", "get"),
            ("/v1/wallet/top-ups", "post"),
            ("/v1/tips", "post"),
            ("/v1/admin/payouts/{payout_id}/execute", "post"),
            ("/v1/admin/creators/{creator_id}/payout-account", "put"),
        ] {
            assert!(doc["paths"][path][method].is_object(), "{method} {path} missing");
        }
        assert!(doc["components"]["schemas"]["TipRequest"]["properties"]["room_id"].is_object());
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    }
}
