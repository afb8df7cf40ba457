//! `tandem`: the all-in-one binary and operator CLI.
//!
//! `tandem serve` runs every service (auth, broker, signaling, billing, relay) and the web
//! app in one process for a single machine; per-service binaries (`tandem-auth`, ...) run
//! them separately for scale-out. The merged OpenAPI document of every HTTP route is at
//! `/openapi.json`, with a Swagger UI at `/docs/`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::sync::Arc;
use tandem::{api_docs, web_app};
use tandem_shared::config::CoreSettings;
use tandem_shared::server::{bind, build_server, run_until_stopped, start_metrics_listener, Core, Service};

/// Tandem: interactive live video (broadcasts and paid private 1-to-1 sessions).
///
/// Configuration comes from the environment; see README.md ("Configuration").
#[derive(Parser)]
#[command(name = "tandem", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run every service and the web app in one process (the default).
    ///
    /// Listens on TANDEM_ADDR (default 127.0.0.1:8080), migrates DATABASE_URL (creating the
    /// database if missing), connects to REDIS_URL, and prints the URL to open.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Operator tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an operator account (the only way to get one).
    ///
    /// The password is read from TANDEM_OPERATOR_PASSWORD or, if unset, from standard input.
    CreateOperator {
        /// Email of the operator.
        #[arg(long)]
        email: String,
        /// Public handle (3-30 of a-z, 0-9, _); defaults to the email's local part.
        #[arg(long)]
        handle: Option<String>,
    },
    /// Verify the ledger: every transaction balances and every cached balance equals the sum
    /// of its entries. Exits non-zero when anything is off.
    LedgerCheck,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tandem_shared::telemetry::init("info,sqlx=warn");
    let cli = Cli::parse();
    let settings = CoreSettings::from_env()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            tandem_shared::db::connect_and_migrate(&settings.database_url, 2).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Admin { command } => admin(settings, command).await,
    }
}

/// Every service of the platform, built from one core.
async fn services(core: &Core) -> anyhow::Result<Vec<Arc<dyn Service>>> {
    Ok(vec![
        tandem_auth::service(core).await?,
        broker(core)?,
        tandem_relay::service(core).await?,
        tandem_signaling::service(core).await?,
        tandem_billing::service(core).await?,
        api_docs::service(),
        web_app::service()?,
    ])
}

/// The broker as `tandem_broker::service` builds it, but without its own `/openapi.json` and
/// `/docs/`: [`api_docs`] serves the merged document there instead.
fn broker(core: &Core) -> anyhow::Result<Arc<dyn Service>> {
    let settings = tandem_broker::BrokerSettings::from_env()?;
    let key = tandem_shared::media_token::MediaKey::load_or_generate(&core.settings)?;
    Ok(Arc::new(tandem_broker::build(core, settings, key, false)?))
}

async fn serve(settings: CoreSettings) -> anyhow::Result<()> {
    let listener = bind(settings.addr)?;
    let core = Core::connect(settings).await?;
    let services = services(&core).await?;
    let addr = listener.local_addr()?;
    start_metrics_listener(&core)?;
    let server = build_server(listener, core.clone(), services)?;
    tracing::info!(%addr, "tandem serving");
    println!("\n  Tandem is running. Open {}/ in your browser.\n", core.settings.public_url);
    run_until_stopped(server, core).await
}

async fn admin(settings: CoreSettings, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::LedgerCheck => {
            let pool = tandem_shared::db::connect_and_migrate(&settings.database_url, 2).await?;
            let report = tandem_billing::ledger_check(&pool).await?;
            println!("{report}");
            if !report.is_ok() {
                anyhow::bail!("the ledger check failed");
            }
            Ok(())
        }
        AdminCommand::CreateOperator { email, handle } => {
            let pool = tandem_shared::db::connect_and_migrate(&settings.database_url, 2).await?;
            let password = match std::env::var("TANDEM_OPERATOR_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    eprintln!("operator password (10-128 characters):");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line).context("Failed to read the password")?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let handle = handle.unwrap_or_else(|| {
                email
                    .split('@')
                    .next()
                    .unwrap_or("operator")
                    .to_lowercase()
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            });
            let user = tandem_auth::users::create_operator(&pool, &email, &handle, password)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", serde_json::to_string_pretty(&user)?);
            Ok(())
        }
    }
}
