//! `/v1/showcases`: schedule, read, change, cancel, start, move on, end, and the iCalendar feed.

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::routes::ErrorDoc;
use crate::showcase::ics;
use crate::showcase::input::{self, NewShowcase, ShowcaseChange};
use crate::showcase::store::{self, ShowcaseRow};
use crate::showcase::view::{showcase_view, ShowcaseList, ShowcaseView};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use tandem_shared::auth::AuthUser;
use tandem_shared::ids::{Role, ShowcaseId, UserId};
use utoipa::IntoParams;

/// Longest window of one schedule query.
const MAX_WINDOW_DAYS: i64 = 366;

/// Check that every artist is an existing creator and return their handles.
async fn artist_handles(broker: &Broker, artists: &[UserId]) -> Result<Vec<String>, BrokerError> {
    let mut handles = Vec::with_capacity(artists.len());
    for id in artists {
        match broker.user(*id).await? {
            Some(u) if u.role == Role::Creator => handles.push(u.handle),
            _ => return Err(BrokerError::Validation(format!("artist {id} is not a creator"))),
        }
    }
    Ok(handles)
}

/// A creator schedules only showcases they host (first artist); operators schedule anyone's.
fn check_line_up(user: &AuthUser, artists: &[UserId]) -> Result<(), BrokerError> {
    match user.role {
        Role::Operator => Ok(user.require(Role::Operator)?),
        Role::Creator if artists.first() == Some(&user.user_id) => Ok(()),
        Role::Creator => Err(BrokerError::Forbidden("creators schedule showcases they host: list yourself first")),
        Role::Fan => Err(BrokerError::Forbidden("only creators and operators schedule showcases")),
    }
}

/// Whether `user` may change, start or end `row`: one of its artists, or an operator.
fn check_manager(user: &AuthUser, row: &ShowcaseRow) -> Result<(), BrokerError> {
    if user.is_operator() || row.is_artist(user.user_id) {
        return Ok(());
    }
    Err(BrokerError::Forbidden("only the showcase's artists and operators may do this"))
}

async fn load(broker: &Broker, id: ShowcaseId) -> Result<ShowcaseRow, BrokerError> {
    store::get(&broker.core.db, id).await?.ok_or(BrokerError::NotFound("showcase"))
}

/// Schedule a showcase (creators for themselves, operators for anyone).
#[utoipa::path(post, path = "/v1/showcases", tag = "showcases", request_body = NewShowcase, security(("bearer" = [])),
    responses((status = 201, body = ShowcaseView),
        (status = 400, body = ErrorDoc, description = "invalid_input: title, description, start, artists (not creators) or segments out of bounds"),
        (status = 403, body = ErrorDoc, description = "forbidden: a fan, or a creator scheduling someone else")))]
pub async fn create(
    broker: web::Data<Broker>,
    user: AuthUser,
    body: web::Json<NewShowcase>,
) -> Result<HttpResponse, BrokerError> {
    let body = body.into_inner();
    check_line_up(&user, &body.artists)?;
    let title = input::title(&body.title).map_err(BrokerError::Validation)?;
    let description =
        input::description(body.description.as_deref().unwrap_or_default()).map_err(BrokerError::Validation)?;
    let starts_at = input::starts_at(body.starts_at, Utc::now()).map_err(BrokerError::Validation)?;
    let artists = input::artists(&body.artists).map_err(BrokerError::Validation)?;
    let segments = match &body.segments {
        Some(s) => input::segments(s).map_err(BrokerError::Validation)?,
        None => input::default_segments(),
    };
    if let Some(ai) = &body.ai {
        if ai.prompt.trim().is_empty() || ai.prompt.chars().count() > 500 {
            return Err(BrokerError::Validation("ai.prompt must be 1 to 500 characters".into()));
        }
    }
    let handles = artist_handles(&broker, &artists).await?;
    let ai = body.ai.map(serde_json::to_value).transpose().map_err(anyhow::Error::from)?;
    let row = store::insert(
        &broker.core.db,
        &store::Insert {
            id: ShowcaseId::new(),
            title: &title,
            description: &description,
            starts_at,
            artists: &artists,
            handles: &handles,
            segments: &segments,
            created_by: user.user_id,
            ai,
        },
    )
    .await?;
    tracing::info!(showcase_id = %row.showcase_id, %starts_at, "showcase scheduled");
    Ok(HttpResponse::Created().json(showcase_view(&row)))
}

/// Query of the schedule and its feed.
#[derive(Debug, Deserialize, IntoParams)]
pub struct WindowQuery {
    /// Showcases starting at or after this (RFC 3339); default a day ago.
    pub from: Option<DateTime<Utc>>,
    /// Showcases starting before this; default 90 days after `from`; at most 366 days after.
    pub to: Option<DateTime<Utc>>,
    /// At most this many (1–500, default 200).
    pub limit: Option<i64>,
}

impl WindowQuery {
    fn window(&self) -> Result<(DateTime<Utc>, DateTime<Utc>, i64), BrokerError> {
        let from = self.from.unwrap_or_else(|| Utc::now() - Duration::days(1));
        let to = self.to.unwrap_or(from + Duration::days(90));
        if to <= from || to - from > Duration::days(MAX_WINDOW_DAYS) {
            return Err(BrokerError::Validation(format!("to must be after from, by at most {MAX_WINDOW_DAYS} days")));
        }
        let limit = self.limit.unwrap_or(200);
        if !(1..=500).contains(&limit) {
            return Err(BrokerError::Validation("limit must be between 1 and 500".into()));
        }
        Ok((from, to, limit))
    }
}

/// The public schedule: showcases starting in `[from, to)`, earliest first (cancelled ones
/// with their reason).
#[utoipa::path(get, path = "/v1/showcases", tag = "showcases", params(WindowQuery),
    responses((status = 200, body = ShowcaseList), (status = 400, body = ErrorDoc, description = "invalid_input: bad window or limit"),
        (status = 503, body = ErrorDoc, description = "`overloaded`: retry shortly")))]
pub async fn list(broker: web::Data<Broker>, q: web::Query<WindowQuery>) -> Result<HttpResponse, BrokerError> {
    let (from, to, limit) = q.window()?;
    let rows = store::between(&broker.core.db, from, to, limit).await?;
    Ok(HttpResponse::Ok().json(ShowcaseList { showcases: rows.iter().map(showcase_view).collect() }))
}

/// The schedule as an iCalendar feed (RFC 5545) for calendar apps; same window as the list.
#[utoipa::path(get, path = "/v1/showcases.ics", tag = "showcases", params(WindowQuery),
    responses((status = 200, content_type = "text/calendar", body = String, description = "VCALENDAR with one VEVENT per showcase"),
        (status = 400, body = ErrorDoc, description = "invalid_input: bad window or limit"),
        (status = 503, body = ErrorDoc, description = "`overloaded`: retry shortly")))]
pub async fn calendar(broker: web::Data<Broker>, q: web::Query<WindowQuery>) -> Result<HttpResponse, BrokerError> {
    let (from, to, limit) = q.window()?;
    let rows = store::between(&broker.core.db, from, to, limit).await?;
    let body = ics::calendar(&rows, &broker.core.settings.public_url);
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header(("content-disposition", "inline; filename=\"tandem-showcases.ics\""))
        .body(body))
}

/// One showcase (public).
#[utoipa::path(get, path = "/v1/showcases/{id}", tag = "showcases",
    params(("id" = String, Path, description = "showcase id")),
    responses((status = 200, body = ShowcaseView), (status = 404, body = ErrorDoc),
        (status = 503, body = ErrorDoc, description = "`overloaded`: retry shortly")))]
pub async fn get(broker: web::Data<Broker>, id: web::Path<ShowcaseId>) -> Result<HttpResponse, BrokerError> {
    Ok(HttpResponse::Ok().json(showcase_view(&load(&broker, *id).await?)))
}

/// Change a scheduled showcase (its artists or an operator). Calendars see the new version.
#[utoipa::path(patch, path = "/v1/showcases/{id}", tag = "showcases", request_body = ShowcaseChange, security(("bearer" = [])),
    params(("id" = String, Path, description = "showcase id")),
    responses((status = 200, body = ShowcaseView),
        (status = 400, body = ErrorDoc, description = "invalid_input: nothing to change, or a value out of bounds"),
        (status = 403, body = ErrorDoc, description = "forbidden: not an artist of it nor an operator"),
        (status = 404, body = ErrorDoc),
        (status = 409, body = ErrorDoc, description = "showcase_not_scheduled")))]
pub async fn change(
    broker: web::Data<Broker>,
    user: AuthUser,
    id: web::Path<ShowcaseId>,
    body: web::Json<ShowcaseChange>,
) -> Result<HttpResponse, BrokerError> {
    let row = load(&broker, *id).await?;
    check_manager(&user, &row)?;
    let c = body.into_inner();
    let v = BrokerError::Validation;
    let artists = match &c.artists {
        Some(a) => {
            check_line_up(&user, a)?;
            let a = input::artists(a).map_err(v)?;
            let handles = artist_handles(&broker, &a).await?;
            Some((a, handles))
        }
        None => None,
    };
    let update = store::Update {
        title: c.title.as_deref().map(input::title).transpose().map_err(v)?,
        description: c.description.as_deref().map(input::description).transpose().map_err(v)?,
        starts_at: c.starts_at.map(|s| input::starts_at(s, Utc::now())).transpose().map_err(v)?,
        artists,
        segments: c.segments.as_deref().map(input::segments).transpose().map_err(v)?,
    };
    if update.title.is_none()
        && update.description.is_none()
        && update.starts_at.is_none()
        && update.artists.is_none()
        && update.segments.is_none()
    {
        return Err(BrokerError::Validation("nothing to change".into()));
    }
    let row = store::update(&broker.core.db, row.showcase_id, update)
        .await?
        .ok_or(BrokerError::conflict("showcase_not_scheduled", "only a scheduled showcase can be changed"))?;
    Ok(HttpResponse::Ok().json(showcase_view(&row)))
}

/// Query of `DELETE /v1/showcases/{id}`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CancelQuery {
    /// Why it is cancelled (1–500 characters), shown on the schedule and in calendars.
    pub reason: String,
}

/// Cancel a scheduled showcase, with a reason (its artists or an operator).
#[utoipa::path(delete, path = "/v1/showcases/{id}", tag = "showcases", security(("bearer" = [])),
    params(("id" = String, Path, description = "showcase id"), CancelQuery),
    responses((status = 200, body = ShowcaseView),
        (status = 400, body = ErrorDoc, description = "invalid_input: reason missing or over 500 characters"),
        (status = 403, body = ErrorDoc, description = "forbidden: not an artist of it nor an operator"),
        (status = 404, body = ErrorDoc),
        (status = 409, body = ErrorDoc, description = "showcase_not_scheduled: it started (end it instead), ended or was cancelled")))]
pub async fn cancel(
    broker: web::Data<Broker>,
    user: AuthUser,
    id: web::Path<ShowcaseId>,
    q: web::Query<CancelQuery>,
) -> Result<HttpResponse, BrokerError> {
    let reason = q.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control) {
        return Err(BrokerError::Validation("reason must be 1 to 500 characters".into()));
    }
    let row = load(&broker, *id).await?;
    check_manager(&user, &row)?;
    let row = store::cancel(&broker.core.db, row.showcase_id, reason)
        .await?
        .ok_or(BrokerError::conflict("showcase_not_scheduled", "only a scheduled showcase can be cancelled"))?;
    tracing::info!(showcase_id = %row.showcase_id, "showcase cancelled");
    Ok(HttpResponse::Ok().json(showcase_view(&row)))
}

/// Start now (its artists or an operator): the broadcast room opens, hosted by the first
/// artist, and the first segment runs (`segment.started` on the room).
#[utoipa::path(post, path = "/v1/showcases/{id}/start", tag = "showcases", security(("bearer" = [])),
    params(("id" = String, Path, description = "showcase id")),
    responses((status = 200, body = ShowcaseView),
        (status = 400, body = ErrorDoc, description = "invalid_input: the showcase's AI effect is refused"),
        (status = 403, body = ErrorDoc, description = "forbidden: not an artist of it nor an operator"),
        (status = 404, body = ErrorDoc),
        (status = 409, body = ErrorDoc, description = "showcase_not_scheduled, or already_live: the host is live in another room"),
        (status = 502, body = ErrorDoc, description = "provider_error / ai_provider_error"),
        (status = 503, body = ErrorDoc, description = "provider_unavailable / ai_unavailable")))]
pub async fn start(
    broker: web::Data<Broker>,
    user: AuthUser,
    id: web::Path<ShowcaseId>,
) -> Result<HttpResponse, BrokerError> {
    check_manager(&user, &load(&broker, *id).await?)?;
    // Starting goes live.
    user.require_verified()?;
    Ok(HttpResponse::Ok().json(showcase_view(&broker.start_showcase(*id).await?)))
}

/// Move on to the next segment now (its artists or an operator); after the last, the showcase
/// and its room end.
#[utoipa::path(post, path = "/v1/showcases/{id}/next", tag = "showcases", security(("bearer" = [])),
    params(("id" = String, Path, description = "showcase id")),
    responses((status = 200, body = ShowcaseView),
        (status = 403, body = ErrorDoc, description = "forbidden: not an artist of it nor an operator"),
        (status = 404, body = ErrorDoc), (status = 409, body = ErrorDoc, description = "showcase_not_live")))]
pub async fn next(
    broker: web::Data<Broker>,
    user: AuthUser,
    id: web::Path<ShowcaseId>,
) -> Result<HttpResponse, BrokerError> {
    check_manager(&user, &load(&broker, *id).await?)?;
    Ok(HttpResponse::Ok().json(showcase_view(&broker.next_segment(*id).await?)))
}

/// End the showcase and its room now (its artists or an operator).
#[utoipa::path(post, path = "/v1/showcases/{id}/end", tag = "showcases", security(("bearer" = [])),
    params(("id" = String, Path, description = "showcase id")),
    responses((status = 200, body = ShowcaseView),
        (status = 403, body = ErrorDoc, description = "forbidden: not an artist of it nor an operator"),
        (status = 404, body = ErrorDoc), (status = 409, body = ErrorDoc, description = "showcase_not_live")))]
pub async fn end(
    broker: web::Data<Broker>,
    user: AuthUser,
    id: web::Path<ShowcaseId>,
) -> Result<HttpResponse, BrokerError> {
    check_manager(&user, &load(&broker, *id).await?)?;
    Ok(HttpResponse::Ok().json(showcase_view(&broker.end_showcase(*id).await?)))
}
