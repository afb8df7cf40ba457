//! Abuse reports: users report a user, a room or a chat message with a reason; operators read
//! the open queue and act on each report (ban platform-wide, end the room, dismiss).

use crate::broker::Broker;
use crate::domain::end_reason;
use crate::error::BrokerError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tandem_shared::audit::{Actor, AuditAction, AuditEntry};
use tandem_shared::ids::{RoomId, UserId};
use utoipa::ToSchema;

/// What is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportTarget {
    /// A user (`user_id`).
    User,
    /// A room (`room_id`).
    Room,
    /// A chat message (`room_id`, `user_id` of its author, `message`).
    Message,
}

impl ReportTarget {
    fn as_str(self) -> &'static str {
        match self {
            ReportTarget::User => "user",
            ReportTarget::Room => "room",
            ReportTarget::Message => "message",
        }
    }
}

/// Where a report stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum ReportStatus {
    /// Waiting for an operator.
    Open,
    /// An operator acted (a ban, an ended room).
    Actioned,
    /// An operator found nothing to do.
    Dismissed,
}

/// Body of `POST /v1/abuse-reports`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    /// `user`, `room` or `message`.
    pub target: ReportTarget,
    /// The reported user (a user, or a message's author).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub user_id: Option<UserId>,
    /// The room (a room, or where a message was said).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub room_id: Option<RoomId>,
    /// The message's text, as the reporter saw it (at most 2000 characters).
    #[serde(default)]
    pub message: Option<String>,
    /// Why (1–500 characters).
    pub reason: String,
}

/// A report.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct ReportView {
    /// Report id.
    pub report_id: uuid::Uuid,
    /// Who reported.
    #[schema(value_type = String, format = Uuid)]
    pub reporter_id: UserId,
    /// `user`, `room` or `message`.
    pub target_kind: String,
    /// The reported user.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub target_user: Option<UserId>,
    /// The room.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub room_id: Option<RoomId>,
    /// The reported message.
    pub message_text: Option<String>,
    /// Why.
    pub reason: String,
    /// `open`, `actioned` or `dismissed`.
    pub status: ReportStatus,
    /// When.
    pub created_at: DateTime<Utc>,
    /// The operator who decided.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub resolved_by: Option<UserId>,
    /// When decided.
    pub resolved_at: Option<DateTime<Utc>>,
    /// What was done and why.
    pub resolution: Option<String>,
}

/// What an operator does with a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportDecision {
    /// Ban the reported user from every room (`minutes`, or for good).
    BanPlatform,
    /// End the reported room.
    EndRoom,
    /// Nothing to do.
    Dismiss,
}

/// Body of `POST /v1/admin/reports/{id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportAction {
    /// What to do.
    pub decision: ReportDecision,
    /// Why (1–500 characters), for the audit log.
    pub reason: String,
    /// A platform ban's length; absent: for good.
    #[serde(default)]
    pub minutes: Option<u32>,
}

const COLS: &str = "report_id, reporter_id, target_kind, target_user, room_id, message_text, reason, status, \
                    created_at, resolved_by, resolved_at, resolution";

fn check_reason(reason: &str) -> Result<String, BrokerError> {
    let r = reason.trim();
    if r.is_empty() || r.chars().count() > 500 || r.chars().any(char::is_control) {
        return Err(BrokerError::Validation("reason must be 1-500 characters without control characters".into()));
    }
    Ok(r.to_string())
}

/// Creators `user` has pending private requests to.
///
/// # Errors
/// Database errors.
pub(crate) async fn pending_creators_of(db: &PgPool, user: UserId) -> sqlx::Result<Vec<UserId>> {
    sqlx::query_scalar("select distinct creator_id from private_requests where fan_id = $1 and status = 'pending'")
        .bind(user)
        .fetch_all(db)
        .await
}

impl Broker {
    /// Record a report by `reporter`.
    ///
    /// # Errors
    /// 400 missing or invalid fields; 404 unknown user or room.
    pub async fn report(&self, reporter: UserId, r: NewReport) -> Result<ReportView, BrokerError> {
        let reason = check_reason(&r.reason)?;
        let (user, room, message) = match r.target {
            ReportTarget::User => {
                (Some(r.user_id.ok_or(BrokerError::Validation("user_id is required".into()))?), r.room_id, None)
            }
            ReportTarget::Room => {
                (r.user_id, Some(r.room_id.ok_or(BrokerError::Validation("room_id is required".into()))?), None)
            }
            ReportTarget::Message => {
                let text = r.message.as_deref().map(str::trim).unwrap_or_default();
                if text.is_empty() || text.chars().count() > 2000 {
                    return Err(BrokerError::Validation("message must be 1-2000 characters".into()));
                }
                let (Some(u), Some(room)) = (r.user_id, r.room_id) else {
                    return Err(BrokerError::Validation("user_id and room_id are required for a message".into()));
                };
                (Some(u), Some(room), Some(text.to_string()))
            }
        };
        if user == Some(reporter) {
            return Err(BrokerError::Validation("you cannot report yourself".into()));
        }
        if let Some(u) = user {
            if self.user(u).await?.is_none() {
                return Err(BrokerError::NotFound("user"));
            }
        }
        if let Some(room) = room {
            if crate::store::room(&self.core.db, room).await?.is_none() {
                return Err(BrokerError::NotFound("room"));
            }
        }
        let row: ReportView = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "insert into abuse_reports (report_id, reporter_id, target_kind, target_user, room_id, message_text, reason)
             values ($1, $2, $3, $4, $5, $6, $7) returning {COLS}"
        )))
        .bind(uuid::Uuid::new_v4())
        .bind(reporter)
        .bind(r.target.as_str())
        .bind(user)
        .bind(room)
        .bind(message)
        .bind(reason)
        .fetch_one(&self.core.db)
        .await?;
        metrics::counter!("broker_abuse_reports_total", "target" => r.target.as_str()).increment(1);
        Ok(row)
    }

    /// Reports with `status`, oldest first (the queue), at most `limit`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn reports(&self, status: ReportStatus, limit: i64) -> Result<Vec<ReportView>, BrokerError> {
        let order = if status == ReportStatus::Open { "asc" } else { "desc" };
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select {COLS} from abuse_reports where status = $1 order by created_at {order} limit $2"
        )))
        .bind(status)
        .bind(limit)
        .fetch_all(&self.core.db)
        .await?)
    }

    /// An operator decides an open report; writes the audit log.
    ///
    /// # Errors
    /// 404 unknown report; 409 `report_closed`; 400 a decision the report cannot take (no
    /// user to ban, no room to end).
    pub async fn decide_report(
        &self,
        operator: UserId,
        id: uuid::Uuid,
        action: ReportAction,
    ) -> Result<ReportView, BrokerError> {
        let reason = check_reason(&action.reason)?;
        let report: ReportView =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("select {COLS} from abuse_reports where report_id = $1")))
                .bind(id)
                .fetch_optional(&self.core.db)
                .await?
                .ok_or(BrokerError::NotFound("report"))?;
        if report.status != ReportStatus::Open {
            return Err(BrokerError::conflict("report_closed", "this report was already decided"));
        }
        if let Some(m) = action.minutes {
            if m == 0 || m > tandem_shared::moderation::MAX_MINUTES || action.decision != ReportDecision::BanPlatform {
                return Err(BrokerError::Validation("minutes apply to ban_platform only (1-525600)".into()));
            }
        }
        let (status, resolution) = match action.decision {
            ReportDecision::BanPlatform => {
                let user = report.target_user.ok_or(BrokerError::Validation("this report names no user".into()))?;
                let until = action.minutes.map(|m| Utc::now() + chrono::Duration::minutes(i64::from(m)));
                self.platform_ban(operator, user, report.room_id, &reason, until).await?;
                (ReportStatus::Actioned, format!("banned platform-wide: {reason}"))
            }
            ReportDecision::EndRoom => {
                let room = report.room_id.ok_or(BrokerError::Validation("this report names no room".into()))?;
                self.end_room(room, end_reason::OPERATOR_ENDED).await?;
                self.audit(AuditEntry {
                    actor: Actor::User { user_id: operator },
                    action: AuditAction::RoomEnded,
                    target_user: report.target_user,
                    room_id: Some(room),
                    reason: reason.clone(),
                    service: "broker".into(),
                    details: serde_json::json!({ "report_id": id }),
                })
                .await;
                (ReportStatus::Actioned, format!("room ended: {reason}"))
            }
            ReportDecision::Dismiss => {
                self.audit(AuditEntry {
                    actor: Actor::User { user_id: operator },
                    action: AuditAction::ReportDismissed,
                    target_user: report.target_user,
                    room_id: report.room_id,
                    reason: reason.clone(),
                    service: "broker".into(),
                    details: serde_json::json!({ "report_id": id }),
                })
                .await;
                (ReportStatus::Dismissed, reason.clone())
            }
        };
        let row: Option<ReportView> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "update abuse_reports set status = $2, resolved_by = $3, resolved_at = now(), resolution = $4
             where report_id = $1 and status = 'open' returning {COLS}"
        )))
        .bind(id)
        .bind(status)
        .bind(operator)
        .bind(resolution)
        .fetch_optional(&self.core.db)
        .await?;
        row.ok_or(BrokerError::conflict("report_closed", "this report was already decided"))
    }
}
