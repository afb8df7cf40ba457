use actix_web::{web, HttpResponse};
use tandem_shared::server::Core;

/// A JSON Web Key Set (RFC 7517).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)] // Documentation only: the handler serialises the key set itself.
pub struct Jwks {
    /// One Ed25519 public key (`kty` `OKP`, `crv` `Ed25519`, `alg` `EdDSA`) per `kid` in use.
    keys: Vec<serde_json::Value>,
}

/// The public key(s) access tokens verify with (EdDSA), cacheable for five minutes.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth", responses((status = 200, body = Jwks)))]
pub async fn jwks(core: web::Data<Core>) -> HttpResponse {
    HttpResponse::Ok().insert_header(("Cache-Control", "public, max-age=300")).json(core.tokens.jwks())
}
