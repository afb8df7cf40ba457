//! `tandem-web`: the browser app at `/`, and the merged OpenAPI document of every service at
//! `/openapi.json` with its Swagger UI at `/docs/`, for a split deployment.

use tandem_shared::service_auth::ServiceName;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tandem::standalone::run(ServiceName::Web, "info", &[], |_core| async move {
        Ok(vec![tandem::api_docs::service(), tandem::web_app::service()?])
    })
    .await
}
