//! One OpenAPI document for the whole platform, served at `/openapi.json` with a Swagger UI
//! at `/docs/`.
//!
//! Each service describes its own routes (`tandem_auth::openapi`, `tandem_broker::openapi`,
//! `tandem_billing::openapi`);
//! this merges them. The broker's own copy of the docs is switched off in `tandem serve`, so
//! the two never claim the same paths.

use std::sync::Arc;
use tandem_shared::server::Service;
use utoipa::openapi::{InfoBuilder, OpenApi};

/// The merged document: auth, broker and billing routes, schemas, tags and the `bearer` scheme.
pub fn openapi() -> OpenApi {
    let mut doc = tandem_auth::openapi();
    doc.merge(tandem_broker::openapi());
    doc.merge(tandem_billing::openapi());
    doc.info = InfoBuilder::new()
        .title("Tandem API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Tandem: accounts and tokens (auth), rooms, private sessions and presence (broker), \
             wallets, tips, earnings and payouts (billing). Signaling is a WebSocket at `/v1/ws`.",
        ))
        .build();
    doc
}

/// Serves a document at `/openapi.json` and its Swagger UI at `/docs/`.
struct ApiDocs {
    doc: OpenApi,
}

impl Service for ApiDocs {
    fn name(&self) -> &'static str {
        "docs"
    }

    fn configure(&self, cfg: &mut actix_web::web::ServiceConfig) {
        cfg.service(utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", self.doc.clone()));
    }
}

/// The docs service for the merged document (mount it before the web app, which owns `/`).
pub fn service() -> Arc<dyn Service> {
    Arc::new(ApiDocs { doc: openapi() })
}
