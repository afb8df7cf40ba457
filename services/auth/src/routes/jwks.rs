use actix_web::{web, HttpResponse};
use tandem_shared::server::Core;

/// `GET /.well-known/jwks.json`: the public key(s) access tokens verify with.
pub async fn jwks(core: web::Data<Core>) -> HttpResponse {
    HttpResponse::Ok().insert_header(("Cache-Control", "public, max-age=300")).json(core.tokens.jwks())
}
