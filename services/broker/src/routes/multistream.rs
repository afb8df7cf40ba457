//! `/v1/showcases/{id}/multistream`: a showcase's RTMP/RTMPS/SRT destinations (through Livepeer).

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::routes::ErrorDoc;
use crate::showcase::multistream::{NewTarget, TargetList, TargetView};
use crate::showcase::store::{self, ShowcaseRow};
use actix_web::{web, HttpResponse};
use tandem_shared::auth::AuthUser;
use tandem_shared::ids::ShowcaseId;
use uuid::Uuid;

async fn managed(broker: &Broker, user: &AuthUser, id: ShowcaseId) -> Result<ShowcaseRow, BrokerError> {
    let row = store::get(&broker.core.db, id).await?.ok_or(BrokerError::NotFound("showcase"))?;
    if !user.is_operator() && !row.is_artist(user.user_id) {
        return Err(BrokerError::Forbidden("only the showcase's artists and operators manage its multistream"));
    }
    Ok(row)
}

/// Add a destination (its artists or an operator). The URL (with the destination's key) is
/// handed to Livepeer and never returned; pushing starts at once when the showcase is live.
#[utoipa::path(post, path = "/v1/showcases/{id}/multistream", tag = "showcases", request_body = NewTarget,
    security(("bearer" = [])), params(("id" = String, Path, description = "showcase id")),
    responses((status = 201, body = TargetView),
        (status = 400, body = ErrorDoc, description = "invalid_input: name, or not an rtmp/rtmps/srt URL"),
        (status = 403, body = ErrorDoc, description = "forbidden: not an artist of it nor an operator"),
        (status = 404, body = ErrorDoc),
        (status = 409, body = ErrorDoc, description = "multistream_unavailable (no Livepeer on this deployment), too_many_targets (5), showcase_ended"),
        (status = 502, body = ErrorDoc, description = "provider_error: Livepeer refused"),
        (status = 503, body = ErrorDoc, description = "provider_unavailable")))]
pub async fn add(
    broker: web::Data<Broker>,
    user: AuthUser,
    id: web::Path<ShowcaseId>,
    body: web::Json<NewTarget>,
) -> Result<HttpResponse, BrokerError> {
    let row = managed(&broker, &user, *id).await?;
    Ok(HttpResponse::Created().json(broker.add_target(&row, &body).await?))
}

/// The destinations with their live status (its artists or an operator).
#[utoipa::path(get, path = "/v1/showcases/{id}/multistream", tag = "showcases", security(("bearer" = [])),
    params(("id" = String, Path, description = "showcase id")),
    responses((status = 200, body = TargetList),
        (status = 403, body = ErrorDoc, description = "forbidden: not an artist of it nor an operator"),
        (status = 404, body = ErrorDoc)))]
pub async fn list(
    broker: web::Data<Broker>,
    user: AuthUser,
    id: web::Path<ShowcaseId>,
) -> Result<HttpResponse, BrokerError> {
    let row = managed(&broker, &user, *id).await?;
    Ok(HttpResponse::Ok().json(TargetList { targets: broker.targets(row.showcase_id).await? }))
}

/// Remove a destination: it stops receiving the stream and is deleted at Livepeer.
#[utoipa::path(delete, path = "/v1/showcases/{id}/multistream/{target_id}", tag = "showcases", security(("bearer" = [])),
    params(("id" = String, Path, description = "showcase id"), ("target_id" = String, Path, description = "target id")),
    responses((status = 204),
        (status = 403, body = ErrorDoc, description = "forbidden: not an artist of it nor an operator"),
        (status = 404, body = ErrorDoc),
        (status = 409, body = ErrorDoc, description = "multistream_unavailable"),
        (status = 502, body = ErrorDoc, description = "provider_error"),
        (status = 503, body = ErrorDoc, description = "provider_unavailable")))]
pub async fn remove(
    broker: web::Data<Broker>,
    user: AuthUser,
    path: web::Path<(ShowcaseId, Uuid)>,
) -> Result<HttpResponse, BrokerError> {
    let (id, target) = path.into_inner();
    let row = managed(&broker, &user, id).await?;
    broker.remove_target(row.showcase_id, target).await?;
    Ok(HttpResponse::NoContent().finish())
}
