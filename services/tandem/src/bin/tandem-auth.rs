//! `tandem-auth`: accounts and tokens on their own (the user directory's owner; needs no other service).

use tandem_shared::service_auth::ServiceName;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tandem::standalone::run(ServiceName::Auth, "info,sqlx=warn", &[], |core| async move {
        Ok(vec![tandem_auth::service(&core).await?])
    })
    .await
}
