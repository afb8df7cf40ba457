//! `/v1/reports`: audience numbers per showcase, room and artist (JSON or CSV).

use crate::audience::reports::{self, ArtistReport, RoomReport};
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::routes::ErrorDoc;
use crate::showcase::store as showcases;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use tandem_shared::auth::AuthUser;
use tandem_shared::ids::{Role, RoomId, ShowcaseId};
use utoipa::{IntoParams, ToSchema};

/// Longest period of an artist report.
const MAX_PERIOD_DAYS: i64 = 3 * 366;

/// How a report is returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    /// `application/json` (the default).
    #[default]
    Json,
    /// `text/csv` (RFC 4180, header row first).
    Csv,
}

/// Query of the room and showcase reports.
#[derive(Debug, Deserialize, IntoParams)]
pub struct FormatQuery {
    /// `json` (default) or `csv`.
    pub format: Option<ReportFormat>,
}

fn csv(body: String, name: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("content-disposition", format!("attachment; filename=\"{name}.csv\"")))
        .body(body)
}

fn respond(report: &RoomReport, format: Option<ReportFormat>, name: &str) -> HttpResponse {
    match format.unwrap_or_default() {
        ReportFormat::Json => HttpResponse::Ok().json(report),
        ReportFormat::Csv => csv(reports::room_csv(report), name),
    }
}

/// A showcase's audience numbers (operators, and the showcase's artists).
#[utoipa::path(get, path = "/v1/reports/showcases/{id}", tag = "reports", security(("bearer" = [])),
    params(("id" = String, Path, description = "showcase id"), FormatQuery),
    responses((status = 200, content((RoomReport = "application/json"), (String = "text/csv"))),
        (status = 403, body = ErrorDoc, description = "forbidden: not an operator nor one of its artists"),
        (status = 404, body = ErrorDoc)))]
pub async fn showcase(
    broker: web::Data<Broker>,
    user: AuthUser,
    id: web::Path<ShowcaseId>,
    q: web::Query<FormatQuery>,
) -> Result<HttpResponse, BrokerError> {
    let row = showcases::get(&broker.core.db, *id).await?.ok_or(BrokerError::NotFound("showcase"))?;
    if !user.is_operator() && !row.is_artist(user.user_id) {
        return Err(BrokerError::Forbidden("reports are for operators and the showcase's artists"));
    }
    let questions = reports::question_counts(&broker, row.showcase_id).await?;
    let (numbers, _) = broker.room_numbers(row.room_id, questions).await?;
    let report = RoomReport {
        showcase_id: Some(row.showcase_id),
        room_id: row.room_id,
        title: row.title.clone(),
        started_at: row.started_at,
        ended_at: row.ended_at,
        numbers,
    };
    Ok(respond(&report, q.format, &format!("showcase-{}", row.showcase_id)))
}

/// A broadcast room's audience numbers (operators, and its host).
#[utoipa::path(get, path = "/v1/reports/rooms/{id}", tag = "reports", security(("bearer" = [])),
    params(("id" = String, Path, description = "room id"), FormatQuery),
    responses((status = 200, content((RoomReport = "application/json"), (String = "text/csv"))),
        (status = 403, body = ErrorDoc, description = "forbidden: not an operator nor its host"),
        (status = 404, body = ErrorDoc)))]
pub async fn room(
    broker: web::Data<Broker>,
    user: AuthUser,
    id: web::Path<RoomId>,
    q: web::Query<FormatQuery>,
) -> Result<HttpResponse, BrokerError> {
    let row = crate::store::room(&broker.core.db, *id).await?.ok_or(BrokerError::NotFound("room"))?;
    if !user.is_operator() && row.host_id != user.user_id {
        return Err(BrokerError::Forbidden("reports are for operators and the room's host"));
    }
    let (numbers, _) = broker.room_numbers(Some(row.room_id), (0, 0)).await?;
    let report = RoomReport {
        showcase_id: None,
        room_id: Some(row.room_id),
        title: row.title.clone(),
        started_at: Some(row.created_at),
        ended_at: row.ended_at,
        numbers,
    };
    Ok(respond(&report, q.format, &format!("room-{}", row.room_id)))
}

/// Query of `GET /v1/reports/artists`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PeriodQuery {
    /// Start (inclusive, RFC 3339); default 90 days before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive); default now; at most about 3 years after `from`.
    pub to: Option<DateTime<Utc>>,
    /// `json` (default) or `csv`.
    pub format: Option<ReportFormat>,
}

/// Per artist over a period: showcases held, views, unique viewers, watch time, new artists
/// (first showcase in the period) and retention (streamed again within 30/60/90 days of their
/// first showcase). Operators see every artist; a creator sees only their own row.
#[utoipa::path(get, path = "/v1/reports/artists", tag = "reports", security(("bearer" = [])), params(PeriodQuery),
    responses((status = 200, content((ArtistReport = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorDoc, description = "invalid_input: to before from, or a period over 3 years"),
        (status = 403, body = ErrorDoc, description = "forbidden: fans")))]
pub async fn artists(
    broker: web::Data<Broker>,
    user: AuthUser,
    q: web::Query<PeriodQuery>,
) -> Result<HttpResponse, BrokerError> {
    let only = match user.role {
        Role::Operator => {
            user.require(Role::Operator)?;
            None
        }
        Role::Creator => Some(user.user_id),
        Role::Fan => return Err(BrokerError::Forbidden("artist reports are for operators and artists")),
    };
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - Duration::days(90));
    if to <= from || to - from > Duration::days(MAX_PERIOD_DAYS) {
        return Err(BrokerError::Validation(format!("to must be after from, by at most {MAX_PERIOD_DAYS} days")));
    }
    let report = reports::artist_report(&broker, from, to, only).await?;
    Ok(match q.format.unwrap_or_default() {
        ReportFormat::Json => HttpResponse::Ok().json(&report),
        ReportFormat::Csv => csv(reports::artists_csv(&report), "artists"),
    })
}
