//! Workshop Q&A: questions (migration `0021_showcase_questions.sql`), one vote per user, the
//! queue ordered by votes, answered / hidden / author brought on stage.

use crate::domain::ShowcaseStatus;
use crate::error::BrokerError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgExecutor, PgPool};
use tandem_shared::ids::{QuestionId, ShowcaseId, UserId};
use utoipa::ToSchema;

/// Longest question, characters.
pub(crate) const MAX_TEXT: usize = 300;
/// Most questions one user may have open in one showcase.
pub(crate) const MAX_OPEN_PER_USER: i64 = 3;
/// Most questions one showcase takes.
pub(crate) const MAX_PER_SHOWCASE: i64 = 2000;
/// Longest queue returned.
pub(crate) const MAX_LISTED: i64 = 500;

macro_rules! question_status {
    ($($variant:ident => $s:literal),+ $(,)?) => {
        /// Where a question is.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
        #[serde(rename_all = "lowercase")]
        pub enum QuestionStatus { $(#[doc = $s] $variant),+ }

        impl QuestionStatus {
            fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(QuestionStatus::$variant),)+ _ => None }
            }
        }
    };
}

question_status!(Open => "open", Answered => "answered", Hidden => "hidden");

impl sqlx::Type<sqlx::Postgres> for QuestionStatus {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <String as sqlx::Type<sqlx::Postgres>>::type_info()
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for QuestionStatus {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let s = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
        QuestionStatus::parse(s).ok_or_else(|| format!("unknown question status `{s}`").into())
    }
}

/// A question in the queue.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct QuestionView {
    /// Question id.
    #[schema(value_type = String, format = Uuid)]
    #[sqlx(rename = "question_id")]
    pub id: QuestionId,
    /// Who asked.
    #[schema(value_type = String, format = Uuid)]
    pub author_id: UserId,
    /// Their handle.
    pub author_handle: String,
    /// The question.
    pub text: String,
    /// Upvotes (one per user).
    pub votes: i32,
    /// `open`, `answered` or `hidden` (hidden ones are listed to the host and operators only).
    pub status: QuestionStatus,
    /// Whether the caller voted for it.
    pub voted: bool,
    /// Asked at.
    pub created_at: DateTime<Utc>,
    /// Answered at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<DateTime<Utc>>,
    /// When its author was brought on stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staged_at: Option<DateTime<Utc>>,
}

/// Body of `GET /v1/showcases/{id}/questions`.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuestionList {
    /// Open questions by votes (most first, earlier first on a tie), then answered ones, then
    /// (for the host and operators) hidden ones.
    pub questions: Vec<QuestionView>,
}

const COLS: &str = "q.question_id, q.author_id, q.author_handle, q.text, q.votes, q.status, q.created_at,
    q.answered_at, q.staged_at";

/// Parse a question's text: trimmed, 1–300 characters, no control characters.
pub(crate) fn text(s: &str) -> Result<String, BrokerError> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > MAX_TEXT {
        return Err(BrokerError::Validation(format!("a question is 1 to {MAX_TEXT} characters")));
    }
    if t.chars().any(char::is_control) {
        return Err(BrokerError::Validation("a question must not contain control characters".into()));
    }
    Ok(t.to_string())
}

/// Add a question, within the per-user and per-showcase limits (checked under the showcase's
/// row lock, so concurrent askers cannot pass them together).
///
/// # Errors
/// 404 unknown showcase; 409 `not_in_workshop`, `too_many_questions`, `question_queue_full`.
pub(crate) async fn ask(
    db: &PgPool,
    showcase: ShowcaseId,
    author: UserId,
    handle: &str,
    text: &str,
) -> Result<QuestionView, BrokerError> {
    let mut tx = db.begin().await?;
    let row = super::store::lock(&mut tx, showcase).await?.ok_or(BrokerError::NotFound("showcase"))?;
    let in_workshop = row.status == ShowcaseStatus::Live
        && row.current_segment().is_some_and(|s| s.kind == tandem_shared::events::SegmentKind::Workshop);
    if !in_workshop {
        return Err(BrokerError::conflict("not_in_workshop", "questions are taken while the workshop runs"));
    }
    let (mine, all): (i64, i64) = sqlx::query_as(
        "select count(*) filter (where author_id = $2 and status = 'open'), count(*)
         from showcase_questions where showcase_id = $1",
    )
    .bind(showcase)
    .bind(author)
    .fetch_one(&mut *tx)
    .await?;
    if mine >= MAX_OPEN_PER_USER {
        return Err(BrokerError::conflict("too_many_questions", "you have 3 open questions; wait for an answer"));
    }
    if all >= MAX_PER_SHOWCASE {
        return Err(BrokerError::conflict("question_queue_full", "this workshop takes no more questions"));
    }
    let q: QuestionView = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into showcase_questions as q (question_id, showcase_id, author_id, author_handle, text)
         values ($1, $2, $3, $4, $5) returning {COLS}, false as voted"
    )))
    .bind(QuestionId::new())
    .bind(showcase)
    .bind(author)
    .bind(handle)
    .bind(text)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(q)
}

/// The queue of a showcase as `viewer` sees it (`with_hidden` for the host and operators).
///
/// # Errors
/// Database errors.
pub(crate) async fn queue(
    db: impl PgExecutor<'_>,
    showcase: ShowcaseId,
    viewer: UserId,
    with_hidden: bool,
) -> Result<Vec<QuestionView>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS}, (v.user_id is not null) as voted
         from showcase_questions q
         left join showcase_question_votes v on v.question_id = q.question_id and v.user_id = $2
         where q.showcase_id = $1 and ($3 or q.status <> 'hidden')
         order by case q.status when 'open' then 0 when 'answered' then 1 else 2 end, q.votes desc, q.created_at, q.question_id
         limit $4"
    )))
    .bind(showcase)
    .bind(viewer)
    .bind(with_hidden)
    .bind(MAX_LISTED)
    .fetch_all(db)
    .await
}

/// One question of a showcase.
///
/// # Errors
/// Database errors.
pub(crate) async fn get(
    db: impl PgExecutor<'_>,
    showcase: ShowcaseId,
    id: QuestionId,
    viewer: UserId,
) -> Result<Option<QuestionView>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS}, (v.user_id is not null) as voted
         from showcase_questions q
         left join showcase_question_votes v on v.question_id = q.question_id and v.user_id = $3
         where q.showcase_id = $1 and q.question_id = $2"
    )))
    .bind(showcase)
    .bind(id)
    .bind(viewer)
    .fetch_optional(db)
    .await
}

/// `user` upvotes an open question: one vote per user (the vote row and the count change in one
/// transaction).
///
/// # Errors
/// 404 unknown; 409 `already_voted`, `question_closed`.
pub(crate) async fn vote(
    db: &PgPool,
    showcase: ShowcaseId,
    id: QuestionId,
    user: UserId,
) -> Result<QuestionView, BrokerError> {
    let mut tx = db.begin().await?;
    let status: Option<String> = sqlx::query_scalar(
        "select status from showcase_questions where showcase_id = $1 and question_id = $2 for update",
    )
    .bind(showcase)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    match status.as_deref() {
        None | Some("hidden") => return Err(BrokerError::NotFound("question")),
        Some("open") => {}
        Some(_) => return Err(BrokerError::conflict("question_closed", "the question was answered")),
    }
    let inserted = sqlx::query(
        "insert into showcase_question_votes (question_id, user_id) values ($1, $2) on conflict do nothing",
    )
    .bind(id)
    .bind(user)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(BrokerError::conflict("already_voted", "you already voted for this question"));
    }
    sqlx::query("update showcase_questions set votes = votes + 1 where question_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    get(db, showcase, id, user).await?.ok_or(BrokerError::NotFound("question"))
}

/// What the host or an operator does to a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Moderation {
    /// The artist answered it.
    Answered,
    /// Removed from the queue.
    Hidden,
    /// Its author was brought on stage.
    Staged,
}

/// Record `m` on a question (idempotent).
///
/// # Errors
/// 404 unknown.
pub(crate) async fn moderate(
    db: &PgPool,
    showcase: ShowcaseId,
    id: QuestionId,
    m: Moderation,
    viewer: UserId,
) -> Result<QuestionView, BrokerError> {
    let sql = match m {
        Moderation::Answered => {
            "update showcase_questions set status = 'answered', answered_at = coalesce(answered_at, now())
             where showcase_id = $1 and question_id = $2 and status <> 'hidden'"
        }
        Moderation::Hidden => {
            "update showcase_questions set status = 'hidden', hidden_at = coalesce(hidden_at, now())
             where showcase_id = $1 and question_id = $2"
        }
        Moderation::Staged => {
            "update showcase_questions set staged_at = now() where showcase_id = $1 and question_id = $2"
        }
    };
    sqlx::query(sql).bind(showcase).bind(id).execute(db).await?;
    get(db, showcase, id, viewer).await?.ok_or(BrokerError::NotFound("question"))
}
