//! HTTP handlers of the broker, and its OpenAPI document.

pub mod multistream;
pub mod questions;
pub mod reports;
pub mod requests;
pub mod rooms;
pub mod safety;
pub mod showcases;
pub mod webhooks;

use actix_web::web;
use tandem_shared::error::ErrorBody as ErrorDoc;
use tandem_shared::openapi::{BearerAuth, ErrorResponses};
use tandem_shared::rate_limit::http::RouteClass;
use tandem_shared::rate_limit::Class;
use utoipa::OpenApi;

/// The broker's public write routes and their rate-limit class.
pub const RATE_LIMITED: &[RouteClass] = &[
    RouteClass::new("POST", "/v1/rooms", Class::Write),
    RouteClass::new("POST", "/v1/rooms/{id}/end", Class::Write),
    RouteClass::new("PATCH", "/v1/rooms/{id}/ai", Class::Write),
    RouteClass::new("POST", "/v1/rooms/{id}/heartbeat", Class::Heartbeat),
    RouteClass::new("PUT", "/v1/rooms/{id}/stage", Class::Write),
    RouteClass::new("DELETE", "/v1/rooms/{id}/stage", Class::Write),
    RouteClass::new("PUT", "/v1/presence", Class::Write),
    RouteClass::new("POST", "/v1/private-requests", Class::Write),
    RouteClass::new("POST", "/v1/private-requests/{id}/accept", Class::Write),
    RouteClass::new("POST", "/v1/private-requests/{id}/decline", Class::Write),
    RouteClass::new("POST", "/v1/private-requests/{id}/cancel", Class::Write),
    RouteClass::new("POST", "/v1/webhooks/livepeer", Class::Webhook),
    RouteClass::new("POST", "/v1/webhooks/livepeer/access", Class::Webhook),
    RouteClass::new("POST", "/v1/rooms/{id}/moderation", Class::Write),
    RouteClass::new("PUT", "/v1/creator/safety", Class::Write),
    RouteClass::new("POST", "/v1/abuse-reports", Class::Report),
    RouteClass::new("POST", "/v1/admin/reports/{id}", Class::Admin),
    RouteClass::new("POST", "/v1/showcases", Class::Write),
    RouteClass::new("PATCH", "/v1/showcases/{id}", Class::Write),
    RouteClass::new("DELETE", "/v1/showcases/{id}", Class::Write),
    RouteClass::new("POST", "/v1/showcases/{id}/start", Class::Write),
    RouteClass::new("POST", "/v1/showcases/{id}/next", Class::Write),
    RouteClass::new("POST", "/v1/showcases/{id}/end", Class::Write),
    RouteClass::new("POST", "/v1/showcases/{id}/questions", Class::Question),
    RouteClass::new("POST", "/v1/showcases/{id}/multistream", Class::Write),
    RouteClass::new("DELETE", "/v1/showcases/{id}/multistream/{target_id}", Class::Write),
    RouteClass::new("POST", "/v1/showcases/{id}/questions/{question_id}/vote", Class::Write),
    RouteClass::new("POST", "/v1/showcases/{id}/questions/{question_id}/answered", Class::Write),
    RouteClass::new("POST", "/v1/showcases/{id}/questions/{question_id}/hide", Class::Write),
    RouteClass::new("POST", "/v1/showcases/{id}/questions/{question_id}/stage", Class::Write),
];

/// Mount the broker routes (not the docs; see [`configure_docs`]).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/rooms", web::post().to(rooms::open))
        .route("/v1/rooms", web::get().to(rooms::list))
        .route("/v1/rooms/{id}", web::get().to(rooms::get))
        .route("/v1/rooms/{id}/end", web::post().to(rooms::end))
        .route("/v1/rooms/{id}/ai", web::patch().to(rooms::change_ai))
        .route("/v1/rooms/{id}/heartbeat", web::post().to(rooms::heartbeat))
        .route("/v1/rooms/{id}/stage", web::put().to(rooms::set_stage))
        .route("/v1/rooms/{id}/stage", web::delete().to(rooms::clear_stage))
        .route("/v1/presence", web::put().to(requests::set_presence))
        .route("/v1/presence/{user_id}", web::get().to(requests::get_presence))
        .route("/v1/private-requests", web::post().to(requests::create))
        .route("/v1/private-requests", web::get().to(requests::list))
        .route("/v1/private-requests/{id}", web::get().to(requests::get))
        .route("/v1/private-requests/{id}/accept", web::post().to(requests::accept))
        .route("/v1/private-requests/{id}/decline", web::post().to(requests::decline))
        .route("/v1/private-requests/{id}/cancel", web::post().to(requests::cancel))
        .route("/v1/webhooks/livepeer", web::post().to(webhooks::livepeer))
        .route("/v1/webhooks/livepeer/access", web::post().to(safety::livepeer_access))
        .route("/v1/rooms/{id}/moderation", web::post().to(safety::moderate))
        .route("/v1/creator/safety", web::get().to(safety::get_settings))
        .route("/v1/creator/safety", web::put().to(safety::put_settings))
        .route("/v1/creator/bans", web::get().to(safety::bans))
        .route("/v1/abuse-reports", web::post().to(safety::report))
        .route("/v1/admin/reports", web::get().to(safety::report_queue))
        .route("/v1/admin/reports/{id}", web::post().to(safety::decide_report))
        .route("/v1/admin/audit", web::get().to(safety::audit))
        .route("/v1/showcases", web::post().to(showcases::create))
        .route("/v1/showcases", web::get().to(showcases::list))
        .route("/v1/showcases.ics", web::get().to(showcases::calendar))
        .route("/v1/showcases/{id}", web::get().to(showcases::get))
        .route("/v1/showcases/{id}", web::patch().to(showcases::change))
        .route("/v1/showcases/{id}", web::delete().to(showcases::cancel))
        .route("/v1/showcases/{id}/start", web::post().to(showcases::start))
        .route("/v1/showcases/{id}/next", web::post().to(showcases::next))
        .route("/v1/showcases/{id}/end", web::post().to(showcases::end))
        .route("/v1/reports/showcases/{id}", web::get().to(reports::showcase))
        .route("/v1/reports/rooms/{id}", web::get().to(reports::room))
        .route("/v1/reports/artists", web::get().to(reports::artists))
        .route("/v1/showcases/{id}/multistream", web::post().to(multistream::add))
        .route("/v1/showcases/{id}/multistream", web::get().to(multistream::list))
        .route("/v1/showcases/{id}/multistream/{target_id}", web::delete().to(multistream::remove))
        .route("/v1/showcases/{id}/questions", web::post().to(questions::ask))
        .route("/v1/showcases/{id}/questions", web::get().to(questions::list))
        .route("/v1/showcases/{id}/questions/{question_id}/vote", web::post().to(questions::vote))
        .route("/v1/showcases/{id}/questions/{question_id}/answered", web::post().to(questions::answered))
        .route("/v1/showcases/{id}/questions/{question_id}/hide", web::post().to(questions::hide))
        .route("/v1/showcases/{id}/questions/{question_id}/stage", web::post().to(questions::stage))
        .route("/internal/v1/slots/{slot_id}/state", web::post().to(webhooks::slot_state));
}

/// Serve `doc` at `/openapi.json` with a Swagger UI at `/docs/`.
pub fn configure_docs(cfg: &mut web::ServiceConfig, doc: utoipa::openapi::OpenApi) {
    cfg.service(utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", doc));
}

/// The error responses every route's shape implies (webhook bodies are read raw).
const ERRORS: ErrorResponses =
    ErrorResponses { raw_bodies: &["/v1/webhooks/livepeer", "/v1/webhooks/livepeer/access"] };

#[derive(OpenApi)]
#[openapi(
    info(title = "Tandem API", description = "Tandem broker: rooms, private sessions, presence, webhooks."),
    paths(
        rooms::open, rooms::list, rooms::get, rooms::end, rooms::heartbeat, rooms::set_stage, rooms::clear_stage, rooms::change_ai,
        requests::set_presence, requests::get_presence,
        requests::create, requests::list, requests::get, requests::accept, requests::decline, requests::cancel,
        webhooks::livepeer,
        showcases::create, showcases::list, showcases::calendar, showcases::get, showcases::change, showcases::cancel,
        showcases::start, showcases::next, showcases::end,
        questions::ask, questions::list, questions::vote, questions::answered, questions::hide, questions::stage,
        reports::showcase, reports::room, reports::artists,
        multistream::add, multistream::list, multistream::remove,
        safety::moderate, safety::get_settings, safety::put_settings, safety::bans, safety::report,
        safety::report_queue, safety::decide_report, safety::audit, safety::livepeer_access,
    ),
    components(schemas(ErrorDoc, crate::provider::PublishEndpoint, crate::provider::PlayEndpoint,
        crate::ai::AiRequest, crate::ai::AiChange, crate::ai::view::AiView, crate::ai::daydream::PipelineHealth,
        crate::ai::params::ModelId, crate::showcase::NewShowcase, crate::showcase::ShowcaseChange,
        crate::showcase::SegmentInput, crate::showcase::ShowcaseView, crate::showcase::ShowcaseList,
        crate::showcase::ArtistView, crate::showcase::CurrentSegmentView, tandem_shared::events::SegmentKind,
        crate::domain::ShowcaseStatus, questions::AskQuestion, crate::showcase::questions::QuestionView,
        crate::showcase::questions::QuestionList, crate::showcase::questions::QuestionStatus,
        reports::ReportFormat, crate::audience::reports::RoomReport, crate::audience::reports::AudienceNumbers,
        crate::audience::reports::SeriesPoint, crate::audience::reports::ViewerWatch, crate::audience::reports::ArtistReport,
        crate::audience::reports::ArtistRow, crate::audience::reports::ArtistSummary,
        crate::showcase::multistream::NewTarget, crate::showcase::multistream::TargetView,
        crate::showcase::multistream::TargetList, crate::showcase::multistream::Protocol,
        crate::showcase::multistream::TargetStatus,
        safety::Moderate, tandem_shared::moderation::ModAction, crate::safety::SafetySettings, safety::BanList,
        crate::safety::store::BanView, crate::safety::reports::NewReport, crate::safety::reports::ReportTarget,
        crate::safety::reports::ReportView, crate::safety::reports::ReportStatus, crate::safety::reports::ReportAction,
        crate::safety::reports::ReportDecision, safety::ReportList, safety::AuditList, crate::safety::store::AuditRow)),
    modifiers(&BearerAuth, &ERRORS),
    tags(
        (name = "rooms", description = "Broadcasts and private rooms; every room pairs a host and a guest slot"),
        (name = "private", description = "Private 1-to-1 session requests"),
        (name = "presence", description = "Creator availability"),
        (name = "webhooks", description = "Stream provider callbacks"),
        (name = "reports", description = "Audience numbers per showcase, room and artist (operators; artists their own)"),
        (name = "safety", description = "Moderation, creators' rules (slow mode, blocklist, blocked regions) and abuse reports"),
        (name = "safety-admin", description = "Operators: the report queue and the audit log"),
        (name = "showcases", description = "Scheduled showcases: a performance and a workshop, opened as a broadcast at start"),
    )
)]
struct BrokerApi;

/// The broker's OpenAPI 3 document (merge other services' documents into it with `merge`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    BrokerApi::openapi()
}
