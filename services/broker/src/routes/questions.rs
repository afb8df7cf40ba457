//! `/v1/showcases/{id}/questions`: the workshop's Q&A queue.

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::routes::ErrorDoc;
use crate::showcase::questions::{self, Moderation, QuestionList, QuestionView};
use crate::showcase::store::{self, ShowcaseRow};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use tandem_shared::auth::AuthUser;
use tandem_shared::events::{publish, room_channel, user_channel, BusEvent};
use tandem_shared::ids::{QuestionId, ShowcaseId};
use utoipa::ToSchema;

/// Body of `POST /v1/showcases/{id}/questions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AskQuestion {
    /// 1–300 characters.
    pub text: String,
}

async fn showcase(broker: &Broker, id: ShowcaseId) -> Result<ShowcaseRow, BrokerError> {
    store::get(&broker.core.db, id).await?.ok_or(BrokerError::NotFound("showcase"))
}

fn moderator(user: &AuthUser, row: &ShowcaseRow) -> bool {
    user.is_operator() || row.is_artist(user.user_id)
}

/// Tell the room the queue changed (best effort; pages also poll the queue).
async fn announce(broker: &Broker, row: &ShowcaseRow, event: &str, data: serde_json::Value) {
    let Some(room) = row.room_id else { return };
    let ev = BusEvent::Notice { event: event.into(), data };
    if let Err(e) = publish(&broker.core.redis, &room_channel(&broker.core.redis, room), &ev).await {
        tracing::warn!(room_id = %room, error.cause_chain = ?e, "failed to announce a question change");
    }
}

/// Ask a question while the workshop runs (anyone signed in; at most 3 open per user).
#[utoipa::path(post, path = "/v1/showcases/{id}/questions", tag = "showcases", request_body = AskQuestion,
    security(("bearer" = [])), params(("id" = String, Path, description = "showcase id")),
    responses((status = 201, body = QuestionView),
        (status = 400, body = ErrorDoc, description = "invalid_input: empty, over 300 characters or control characters"),
        (status = 404, body = ErrorDoc),
        (status = 409, body = ErrorDoc, description = "not_in_workshop, too_many_questions (3 open), question_queue_full (2,000)")))]
pub async fn ask(
    broker: web::Data<Broker>,
    user: AuthUser,
    id: web::Path<ShowcaseId>,
    body: web::Json<AskQuestion>,
) -> Result<HttpResponse, BrokerError> {
    let text = questions::text(&body.text)?;
    let row = showcase(&broker, *id).await?;
    let handle = broker.user(user.user_id).await?.map(|u| u.handle).unwrap_or_default();
    let q = questions::ask(&broker.core.db, row.showcase_id, user.user_id, &handle, &text).await?;
    announce(&broker, &row, "question.asked", serde_json::json!({"showcase_id": row.showcase_id, "question": q})).await;
    Ok(HttpResponse::Created().json(q))
}

/// The queue: open questions by votes, then answered ones (hidden ones for the artists and
/// operators only), with whether the caller voted for each.
#[utoipa::path(get, path = "/v1/showcases/{id}/questions", tag = "showcases", security(("bearer" = [])),
    params(("id" = String, Path, description = "showcase id")),
    responses((status = 200, body = QuestionList), (status = 404, body = ErrorDoc)))]
pub async fn list(
    broker: web::Data<Broker>,
    user: AuthUser,
    id: web::Path<ShowcaseId>,
) -> Result<HttpResponse, BrokerError> {
    let row = showcase(&broker, *id).await?;
    let list = questions::queue(&broker.core.db, row.showcase_id, user.user_id, moderator(&user, &row)).await?;
    Ok(HttpResponse::Ok().json(QuestionList { questions: list }))
}

/// Upvote an open question (anyone signed in, once).
#[utoipa::path(post, path = "/v1/showcases/{id}/questions/{question_id}/vote", tag = "showcases", security(("bearer" = [])),
    params(("id" = String, Path, description = "showcase id"), ("question_id" = String, Path, description = "question id")),
    responses((status = 200, body = QuestionView), (status = 404, body = ErrorDoc),
        (status = 409, body = ErrorDoc, description = "already_voted, question_closed (answered)")))]
pub async fn vote(
    broker: web::Data<Broker>,
    user: AuthUser,
    path: web::Path<(ShowcaseId, QuestionId)>,
) -> Result<HttpResponse, BrokerError> {
    let (sid, qid) = path.into_inner();
    let row = showcase(&broker, sid).await?;
    let q = questions::vote(&broker.core.db, row.showcase_id, qid, user.user_id).await?;
    Ok(HttpResponse::Ok().json(q))
}

async fn moderate(
    broker: &Broker,
    user: &AuthUser,
    sid: ShowcaseId,
    qid: QuestionId,
    m: Moderation,
) -> Result<(ShowcaseRow, QuestionView), BrokerError> {
    let row = showcase(broker, sid).await?;
    if !moderator(user, &row) {
        return Err(BrokerError::Forbidden("only the showcase's artists and operators moderate questions"));
    }
    let q = questions::moderate(&broker.core.db, sid, qid, m, user.user_id).await?;
    Ok((row, q))
}

/// Mark a question answered (the artists or an operator).
#[utoipa::path(post, path = "/v1/showcases/{id}/questions/{question_id}/answered", tag = "showcases", security(("bearer" = [])),
    params(("id" = String, Path, description = "showcase id"), ("question_id" = String, Path, description = "question id")),
    responses((status = 200, body = QuestionView), (status = 403, body = ErrorDoc, description = "forbidden: not an artist nor an operator"),
        (status = 404, body = ErrorDoc)))]
pub async fn answered(
    broker: web::Data<Broker>,
    user: AuthUser,
    path: web::Path<(ShowcaseId, QuestionId)>,
) -> Result<HttpResponse, BrokerError> {
    let (sid, qid) = path.into_inner();
    let (row, q) = moderate(&broker, &user, sid, qid, Moderation::Answered).await?;
    announce(&broker, &row, "question.updated", serde_json::json!({"showcase_id": sid, "question": q})).await;
    Ok(HttpResponse::Ok().json(q))
}

/// Hide a question from the queue (the artists or an operator).
#[utoipa::path(post, path = "/v1/showcases/{id}/questions/{question_id}/hide", tag = "showcases", security(("bearer" = [])),
    params(("id" = String, Path, description = "showcase id"), ("question_id" = String, Path, description = "question id")),
    responses((status = 200, body = QuestionView), (status = 403, body = ErrorDoc, description = "forbidden: not an artist nor an operator"),
        (status = 404, body = ErrorDoc)))]
pub async fn hide(
    broker: web::Data<Broker>,
    user: AuthUser,
    path: web::Path<(ShowcaseId, QuestionId)>,
) -> Result<HttpResponse, BrokerError> {
    let (sid, qid) = path.into_inner();
    let (row, q) = moderate(&broker, &user, sid, qid, Moderation::Hidden).await?;
    let data = serde_json::json!({"showcase_id": sid, "question_id": qid, "status": "hidden"});
    announce(&broker, &row, "question.hidden", data).await;
    Ok(HttpResponse::Ok().json(q))
}

/// Bring a question's author on stage (the room's host or an operator): the stage flow of
/// `PUT /v1/rooms/{id}/stage`; the author's sockets get `showcase.on_stage` and their view of
/// the room then has the `guest` slot's publish endpoint.
#[utoipa::path(post, path = "/v1/showcases/{id}/questions/{question_id}/stage", tag = "showcases", security(("bearer" = [])),
    params(("id" = String, Path, description = "showcase id"), ("question_id" = String, Path, description = "question id")),
    responses((status = 200, body = QuestionView),
        (status = 400, body = ErrorDoc, description = "invalid_input: the author is the host"),
        (status = 403, body = ErrorDoc, description = "forbidden: not the host nor an operator"),
        (status = 404, body = ErrorDoc),
        (status = 409, body = ErrorDoc, description = "showcase_not_live, room_ended")))]
pub async fn stage(
    broker: web::Data<Broker>,
    user: AuthUser,
    path: web::Path<(ShowcaseId, QuestionId)>,
) -> Result<HttpResponse, BrokerError> {
    let (sid, qid) = path.into_inner();
    let row = showcase(&broker, sid).await?;
    if !user.is_operator() && row.host() != user.user_id {
        return Err(BrokerError::Forbidden("only the host or an operator brings someone on stage"));
    }
    let q = questions::get(&broker.core.db, sid, qid, user.user_id).await?.ok_or(BrokerError::NotFound("question"))?;
    let room_id = row.room_id.filter(|_| row.status == crate::domain::ShowcaseStatus::Live);
    let room_id = room_id.ok_or(BrokerError::conflict("showcase_not_live", "the showcase is not live"))?;
    let room = crate::store::room(&broker.core.db, room_id).await?.ok_or(BrokerError::NotFound("room"))?;
    broker.change_stage(&room, Some(q.author_id)).await?;
    let q = questions::moderate(&broker.core.db, sid, qid, Moderation::Staged, user.user_id).await?;
    let notice = BusEvent::Notice {
        event: "showcase.on_stage".into(),
        data: serde_json::json!({"showcase_id": sid, "room_id": room_id, "question_id": qid}),
    };
    let redis = &broker.core.redis;
    if let Err(e) = publish(redis, &user_channel(redis, q.author_id), &notice).await {
        tracing::warn!(%room_id, error.cause_chain = ?e, "failed to tell a question's author they are on stage");
    }
    announce(&broker, &row, "question.updated", serde_json::json!({"showcase_id": sid, "question": q})).await;
    Ok(HttpResponse::Ok().json(q))
}
