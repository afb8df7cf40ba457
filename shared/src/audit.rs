//! The audit log: an append-only record of every privileged action (moderation, verification
//! decisions, payouts, wallet unfreezes, rooms ended by operators, report decisions) with who,
//! what, when and why.
//!
//! The broker keeps it (table `audit_log`, which refuses updates and deletes); other services
//! write to it through the [`AuditLog`] contract (in process, or `POST /internal/v1/audit`).
//! Operators read it at `GET /v1/admin/audit`.

use crate::ids::{RoomId, UserId};
use serde::{Deserialize, Serialize};

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// A user was kicked from a room.
    Kick,
    /// A user was banned from a creator's rooms.
    Ban,
    /// A creator's ban was lifted.
    Unban,
    /// A user was muted in a room.
    Mute,
    /// A mute was lifted.
    Unmute,
    /// An operator banned a user from every room.
    PlatformBan,
    /// An operator ended a room.
    RoomEnded,
    /// An operator dismissed a report.
    ReportDismissed,
    /// A creator was verified (by Stripe Identity or an operator).
    VerificationApproved,
    /// A creator's verification was refused or revoked by an operator.
    VerificationRejected,
    /// Stripe Identity needs more input from the creator.
    VerificationRequiresInput,
    /// An operator executed a payout.
    PayoutExecuted,
    /// An operator unfroze a wallet.
    WalletUnfrozen,
    /// A creator changed their safety settings (blocklist, slow mode, blocked regions).
    SafetySettingsChanged,
}

impl AuditAction {
    /// The snake_case name stored in the log.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Kick => "kick",
            AuditAction::Ban => "ban",
            AuditAction::Unban => "unban",
            AuditAction::Mute => "mute",
            AuditAction::Unmute => "unmute",
            AuditAction::PlatformBan => "platform_ban",
            AuditAction::RoomEnded => "room_ended",
            AuditAction::ReportDismissed => "report_dismissed",
            AuditAction::VerificationApproved => "verification_approved",
            AuditAction::VerificationRejected => "verification_rejected",
            AuditAction::VerificationRequiresInput => "verification_requires_input",
            AuditAction::PayoutExecuted => "payout_executed",
            AuditAction::WalletUnfrozen => "wallet_unfrozen",
            AuditAction::SafetySettingsChanged => "safety_settings_changed",
        }
    }
}

/// Who did it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// A signed-in user (a host or an operator).
    User {
        /// The user.
        #[schema(value_type = String, format = Uuid)]
        user_id: UserId,
    },
    /// Stripe (a signed webhook).
    Stripe,
}

/// One privileged action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Who.
    pub actor: Actor,
    /// What.
    pub action: AuditAction,
    /// On whom, if on a user.
    #[serde(default)]
    pub target_user: Option<UserId>,
    /// Where, if in a room.
    #[serde(default)]
    pub room_id: Option<RoomId>,
    /// Why (the actor's words, or the event that caused it).
    pub reason: String,
    /// The service that did it.
    pub service: String,
    /// Anything else worth keeping (durations, amounts, ids).
    #[serde(default)]
    pub details: serde_json::Value,
}

/// The audit log, as services write to it (the broker owns it).
#[async_trait::async_trait]
pub trait AuditLog: Send + Sync + 'static {
    /// Append `entry`.
    async fn record(&self, entry: AuditEntry) -> anyhow::Result<()>;
}

/// Append `entry` through the installed log, logging (never failing the caller) when it
/// cannot be written: the action itself already happened.
pub async fn record(hooks: &crate::hooks::Hooks, entry: AuditEntry) {
    let Some(log) = hooks.audit() else {
        tracing::error!(
            action = entry.action.as_str(),
            "no audit log is installed: a privileged action is not recorded"
        );
        return;
    };
    let action = entry.action;
    if let Err(e) = log.record(entry).await {
        tracing::error!(action = action.as_str(), error.cause_chain = ?e, "failed to write the audit log");
        metrics::counter!("audit_write_failures_total").increment(1);
    }
}
