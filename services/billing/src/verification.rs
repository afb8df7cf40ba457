//! Creator verification: a creator goes live, sets a price and accepts private sessions only
//! once verified, through Stripe Identity (a VerificationSession created over Stripe's REST API,
//! settled by the signed `identity.verification_session.*` webhooks) or an operator's approval.
//!
//! With `TANDEM_CREATOR_VERIFICATION=auto` (the development default) every creator counts as
//! verified, so the quick start works without a Stripe account; production requires it.
//! The broker asks through `PaymentGate::creator_verified`.

use crate::config::VerificationMode;
use crate::error::BillingError;
use crate::Billing;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;
use tandem_shared::audit::{Actor, AuditAction, AuditEntry};
use tandem_shared::ids::UserId;
use utoipa::ToSchema;

/// Where a creator's verification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerificationStatus {
    /// Nothing started yet.
    Unverified,
    /// A Stripe Identity session is open: the creator has to finish it.
    Pending,
    /// Stripe needs more (a blurry document, a mismatch): start again.
    RequiresInput,
    /// Verified.
    Verified,
    /// An operator refused.
    Rejected,
}

impl VerificationStatus {
    fn parse(s: &str) -> Self {
        match s {
            "pending" => Self::Pending,
            "requires_input" => Self::RequiresInput,
            "verified" => Self::Verified,
            "rejected" => Self::Rejected,
            _ => Self::Unverified,
        }
    }
}

/// A creator's verification, as they (and operators) see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerificationView {
    /// The creator.
    #[schema(value_type = String, format = Uuid)]
    pub creator_id: UserId,
    /// Where it stands.
    pub status: VerificationStatus,
    /// Whether the creator may go live, set a price and accept private sessions.
    pub verified: bool,
    /// Whether this deployment requires verification (false: every creator counts as verified).
    pub required: bool,
    /// What is missing, in words (empty once verified).
    pub missing: Vec<String>,
    /// Whether Stripe Identity can be started here (`POST /v1/verification/stripe`).
    pub stripe_available: bool,
    /// Stripe's reason for `requires_input`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// A Stripe Identity session to send the creator to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IdentitySession {
    /// `vs_...`.
    pub session_id: String,
    /// Stripe's hosted verification page.
    pub url: String,
}

/// An operator's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Verified.
    Approve,
    /// Not verified (also revokes an earlier approval).
    Reject,
}

/// Body of `POST /v1/admin/verifications/{user_id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// Approve or reject.
    pub decision: Decision,
    /// Why (1–500 characters), for the audit log.
    pub reason: String,
}

#[derive(sqlx::FromRow)]
struct Row {
    status: String,
    last_error: Option<String>,
}

impl Billing {
    /// Whether `creator` may earn: always in `auto` mode, else once verified.
    ///
    /// # Errors
    /// Database errors.
    pub async fn is_verified(&self, creator: UserId) -> Result<bool, BillingError> {
        if self.settings.verification == VerificationMode::Auto {
            return Ok(true);
        }
        let status: Option<String> =
            sqlx::query_scalar("select status from creator_verifications where creator_id = $1")
                .bind(creator)
                .fetch_optional(&self.core.db)
                .await?;
        Ok(status.as_deref() == Some("verified"))
    }

    /// 403 `verification_required` unless `creator` is verified.
    ///
    /// # Errors
    /// 403, or database errors.
    pub async fn require_verified(&self, creator: UserId) -> Result<(), BillingError> {
        if self.is_verified(creator).await? {
            Ok(())
        } else {
            Err(BillingError::VerificationRequired)
        }
    }

    /// `creator`'s verification with what is missing.
    ///
    /// # Errors
    /// Database errors.
    pub async fn verification(&self, creator: UserId) -> Result<VerificationView, BillingError> {
        let row: Option<Row> =
            sqlx::query_as("select status, last_error from creator_verifications where creator_id = $1")
                .bind(creator)
                .fetch_optional(&self.core.db)
                .await?;
        let status = row.as_ref().map_or(VerificationStatus::Unverified, |r| VerificationStatus::parse(&r.status));
        let required = self.settings.verification == VerificationMode::Required;
        let verified = !required || status == VerificationStatus::Verified;
        let stripe_available = self.checkout.is_some();
        let missing = if verified {
            Vec::new()
        } else {
            let how = if stripe_available {
                "verify your identity with Stripe (POST /v1/verification/stripe), or wait for an operator's approval"
            } else {
                "an operator's approval (Stripe Identity is not configured here)"
            };
            let what = match status {
                VerificationStatus::Pending => "finish the identity check you started",
                VerificationStatus::RequiresInput => "the identity check needs another try",
                VerificationStatus::Rejected => "an operator refused the verification; contact support",
                _ => "an identity check",
            };
            vec![what.to_string(), how.to_string()]
        };
        Ok(VerificationView {
            creator_id: creator,
            status,
            verified,
            required,
            missing,
            stripe_available,
            last_error: row.and_then(|r| r.last_error),
        })
    }

    /// Open a Stripe Identity VerificationSession for `creator` (document check, the creator's
    /// id in `metadata[user_id]`).
    ///
    /// # Errors
    /// 503 `not_configured` without `STRIPE_SECRET_KEY`; 409 `already_verified`; 502 when Stripe
    /// fails.
    pub async fn start_identity(&self, creator: UserId) -> Result<IdentitySession, BillingError> {
        let key = self.settings.stripe.secret_key.as_deref().ok_or(BillingError::NotConfigured("STRIPE_SECRET_KEY"))?;
        if self.verification(creator).await?.status == VerificationStatus::Verified {
            return Err(BillingError::conflict("already_verified", "you are already verified"));
        }
        let base = self.settings.stripe.api_base.as_deref().unwrap_or("https://api.stripe.com/");
        let url = format!("{}/v1/identity/verification_sessions", base.trim_end_matches('/'));
        let form = [
            ("type", "document".to_string()),
            ("metadata[user_id]", creator.to_string()),
            ("return_url", self.settings.verification_return_url.clone()),
        ];
        let res = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .map_err(|e| BillingError::Provider(e.into()))?
            .post(&url)
            .bearer_auth(key)
            .header("idempotency-key", format!("identity:{creator}:{}", uuid::Uuid::new_v4()))
            .form(&form)
            .send()
            .await
            .map_err(|e| BillingError::Provider(anyhow::anyhow!("Stripe Identity unreachable: {e}")))?;
        let status = res.status();
        let body: Value =
            res.json().await.map_err(|e| BillingError::Provider(anyhow::anyhow!("Stripe Identity: {e}")))?;
        if !status.is_success() {
            return Err(BillingError::Provider(anyhow::anyhow!(
                "Stripe Identity answered {status}: {}",
                body["error"]["message"].as_str().unwrap_or("no message")
            )));
        }
        let (Some(id), Some(page)) = (body["id"].as_str(), body["url"].as_str()) else {
            return Err(BillingError::Provider(anyhow::anyhow!("Stripe Identity sent no id or url")));
        };
        sqlx::query(
            "insert into creator_verifications (creator_id, status, method, stripe_session_id) values ($1, 'pending', 'stripe', $2)
             on conflict (creator_id) do update set status = 'pending', method = 'stripe',
               stripe_session_id = excluded.stripe_session_id, last_error = null, updated_at = now()
             where creator_verifications.status <> 'verified'",
        )
        .bind(creator)
        .bind(id)
        .execute(&self.core.db)
        .await?;
        Ok(IdentitySession { session_id: id.to_string(), url: page.to_string() })
    }

    /// Apply an `identity.verification_session.*` event inside the event's transaction; the
    /// audit entry to write once it commits.
    pub(crate) async fn apply_identity_event(
        &self,
        conn: &mut PgConnection,
        kind: &str,
        object: &Value,
    ) -> Result<Option<AuditEntry>, BillingError> {
        let (status, action) = match kind {
            "identity.verification_session.verified" => ("verified", AuditAction::VerificationApproved),
            "identity.verification_session.requires_input" => {
                ("requires_input", AuditAction::VerificationRequiresInput)
            }
            _ => return Ok(None),
        };
        let Some(session) = object["id"].as_str() else { return Ok(None) };
        let Some(creator) = object["metadata"]["user_id"].as_str().and_then(|u| u.parse::<UserId>().ok()) else {
            tracing::warn!(session, "an identity session without our metadata.user_id; ignored");
            return Ok(None);
        };
        let last_error = object["last_error"]["code"].as_str().or(object["last_error"]["reason"].as_str());
        // A verified creator stays verified whatever an older session says afterwards.
        let changed = sqlx::query(
            "insert into creator_verifications (creator_id, status, method, stripe_session_id, last_error)
             values ($1, $2, 'stripe', $3, $4)
             on conflict (creator_id) do update set status = excluded.status, method = 'stripe',
               stripe_session_id = excluded.stripe_session_id, last_error = excluded.last_error, updated_at = now()
             where creator_verifications.status <> 'verified'",
        )
        .bind(creator)
        .bind(status)
        .bind(session)
        .bind(last_error)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            > 0;
        if !changed {
            return Ok(None);
        }
        Ok(Some(AuditEntry {
            actor: Actor::Stripe,
            action,
            target_user: Some(creator),
            room_id: None,
            reason: format!("Stripe Identity: {kind}"),
            service: "billing".into(),
            details: serde_json::json!({ "verification_session": session, "last_error": last_error }),
        }))
    }

    /// An operator approves or rejects `creator`; written to the audit log.
    ///
    /// # Errors
    /// 400 bad reason; 404 not a creator.
    pub async fn decide_verification(
        &self,
        operator: UserId,
        creator: UserId,
        body: &DecisionBody,
    ) -> Result<VerificationView, BillingError> {
        let reason = body.reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control) {
            return Err(BillingError::Validation("reason must be 1-500 characters without control characters".into()));
        }
        if self.user(creator).await?.map(|u| u.role) != Some(tandem_shared::ids::Role::Creator) {
            return Err(BillingError::NotFound("creator"));
        }
        let (status, action) = match body.decision {
            Decision::Approve => ("verified", AuditAction::VerificationApproved),
            Decision::Reject => ("rejected", AuditAction::VerificationRejected),
        };
        sqlx::query(
            "insert into creator_verifications (creator_id, status, method, decided_by) values ($1, $2, 'operator', $3)
             on conflict (creator_id) do update set status = excluded.status, method = 'operator',
               decided_by = excluded.decided_by, last_error = null, updated_at = now()",
        )
        .bind(creator)
        .bind(status)
        .bind(operator)
        .execute(&self.core.db)
        .await?;
        tandem_shared::audit::record(
            &self.core.hooks,
            AuditEntry {
                actor: Actor::User { user_id: operator },
                action,
                target_user: Some(creator),
                room_id: None,
                reason: reason.to_string(),
                service: "billing".into(),
                details: serde_json::json!({}),
            },
        )
        .await;
        self.verification(creator).await
    }

    /// Creators waiting for a decision (pending or requires_input, and every creator who
    /// started), oldest first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn open_verifications(
        &self,
    ) -> Result<Vec<(UserId, String, chrono::DateTime<chrono::Utc>)>, BillingError> {
        Ok(sqlx::query_as(
            "select creator_id, status, updated_at from creator_verifications
             where status in ('pending', 'requires_input') order by updated_at limit 200",
        )
        .fetch_all(&self.core.db)
        .await?)
    }
}
