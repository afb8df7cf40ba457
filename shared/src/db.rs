//! The PostgreSQL pool and the embedded migrations (`migrations/` at the workspace root).

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};
use std::str::FromStr;
use std::time::Duration;

/// Every migration of the workspace, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Create the database named in `url` if it does not exist yet.
///
/// # Errors
/// The server is unreachable or refuses `CREATE DATABASE`.
pub async fn create_database_if_missing(url: &str) -> anyhow::Result<()> {
    let opts = PgConnectOptions::from_str(url).context("Failed to parse DATABASE_URL")?;
    let name = opts.get_database().unwrap_or("postgres").to_string();
    let maintenance = opts.clone().database("postgres").log_statements(tracing::log::LevelFilter::Trace);
    let mut conn = sqlx::PgConnection::connect_with(&maintenance)
        .await
        .context("Failed to connect to PostgreSQL (is it running? see README)")?;
    let exists: bool = sqlx::query_scalar("select exists(select 1 from pg_database where datname = $1)")
        .bind(&name)
        .fetch_one(&mut conn)
        .await
        .context("Failed to look up the database")?;
    if !exists {
        let sql = format!("create database \"{}\"", name.replace('"', "\"\""));
        match sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await {
            Ok(_) => tracing::info!(database = %name, "created database"),
            // 42P04: another process created it between our check and our create.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e).context("Failed to create the database"),
        }
    }
    conn.close().await.ok();
    Ok(())
}

/// Connect a pool to `url` (creating the database if needed) and apply the migrations.
///
/// # Errors
/// Unreachable server or a failing migration.
pub async fn connect_and_migrate(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    create_database_if_missing(url).await?;
    let pool = connect(url, max_connections).await?;
    MIGRATOR.run(&pool).await.context("Failed to run database migrations")?;
    Ok(pool)
}

/// Connect a pool without migrating.
///
/// # Errors
/// Unreachable server.
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let opts = PgConnectOptions::from_str(url)
        .context("Failed to parse DATABASE_URL")?
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(opts)
        .await
        .context("Failed to connect to PostgreSQL")
}
