//! Account storage.

use crate::domain::{Email, Handle, Password};
use crate::error::AuthApiError;
use crate::password::Hasher;
use serde::Serialize;
use sqlx::PgPool;
use tandem_shared::error::violated_constraint;
use tandem_shared::ids::{Role, UserId};

/// A user as the API shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct User {
    /// Id.
    #[schema(value_type = String, format = Uuid)]
    pub user_id: UserId,
    /// Email as given at signup.
    pub email: String,
    /// Public handle.
    pub handle: String,
    /// `creator`, `fan` or `operator`.
    #[schema(example = "creator")]
    pub role: String,
    /// When the account was made.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Whether the email address is verified (needed to top up, tip, request a private session,
    /// go live and be paid).
    pub email_verified: bool,
    /// Whether sign-in needs a code from an authenticator app.
    pub totp_enabled: bool,
}

/// The columns of [`User`] from `users u`.
const USER_COLUMNS: &str = "u.user_id, u.email, u.handle, u.role, u.created_at,
    u.email_verified_at is not null as email_verified,
    exists (select 1 from totp_credentials c where c.user_id = u.user_id and c.confirmed_at is not null) as totp_enabled";

/// A user row with its password hash, for login.
#[derive(sqlx::FromRow)]
pub struct Credentials {
    /// Id.
    pub user_id: UserId,
    /// Role name.
    pub role: String,
    /// PHC string.
    pub password_hash: String,
}

/// Insert a new account (its email verified already when `verified`); the password is hashed
/// here.
///
/// # Errors
/// `EmailTaken` / `HandleTaken` on the named unique indexes, `Overloaded` when hashing is
/// saturated, or a database failure.
pub async fn create(
    pool: &PgPool,
    hasher: &Hasher,
    new: NewAccount<'_>,
    password: Password,
) -> Result<User, AuthApiError> {
    let hash = hasher.hash(password.expose().to_owned()).await?;
    let user = sqlx::query_as::<_, User>(
        "insert into users (user_id, email, handle, role, password_hash, email_verified_at)
         values ($1, $2, $3, $4, $5, case when $6 then now() end)
         returning user_id, email, handle, role, created_at, email_verified_at is not null as email_verified,
             false as totp_enabled",
    )
    .bind(UserId::new())
    .bind(new.email.as_ref())
    .bind(new.handle.as_ref())
    .bind(new.role.as_str())
    .bind(hash)
    .bind(new.verified)
    .fetch_one(pool)
    .await
    .map_err(|e| match violated_constraint(&e) {
        Some("users_email_key") => AuthApiError::EmailTaken,
        Some("users_handle_key") => AuthApiError::HandleTaken,
        _ => e.into(),
    })?;
    Ok(user)
}

/// What a new account is made of, besides its password.
pub struct NewAccount<'a> {
    /// Email address.
    pub email: &'a Email,
    /// Handle.
    pub handle: &'a Handle,
    /// Role.
    pub role: Role,
    /// Start with a verified email (operators, `TANDEM_DEV_VERIFIED_SIGNUPS`).
    pub verified: bool,
}

/// Look up credentials by email, case-insensitively.
///
/// # Errors
/// Database failure.
pub async fn credentials(pool: &PgPool, email: &Email) -> Result<Option<Credentials>, AuthApiError> {
    Ok(sqlx::query_as("select user_id, role, password_hash from users where lower(email) = $1")
        .bind(email.normalized())
        .fetch_optional(pool)
        .await?)
}

/// Load a user by id.
///
/// # Errors
/// Database failure.
pub async fn by_id(pool: &PgPool, id: UserId) -> Result<Option<User>, AuthApiError> {
    let sql = format!("select {USER_COLUMNS} from users u where u.user_id = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?)
}

/// Create an operator account (CLI only). Its email counts as verified (an operator of the
/// deployment made it); it must still enrol an authenticator before operator routes work.
///
/// # Errors
/// Invalid input, a taken email/handle, or a database failure.
pub async fn create_operator(pool: &PgPool, email: &str, handle: &str, password: String) -> Result<User, AuthApiError> {
    let email = Email::parse(email).map_err(AuthApiError::Validation)?;
    let handle = Handle::parse(handle).map_err(AuthApiError::Validation)?;
    let password = Password::parse(password).map_err(AuthApiError::Validation)?;
    let settings = crate::settings::AuthSettings::from_env(&tandem_shared::config::CoreSettings::from_env()?)?;
    let hasher = Hasher::new(settings.argon2, settings.hash_queue)?;
    let new = NewAccount { email: &email, handle: &handle, role: Role::Operator, verified: true };
    create(pool, &hasher, new, password).await
}

/// Mark `user`'s email verified (idempotent).
///
/// # Errors
/// Database failure.
pub async fn mark_verified(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, user: UserId) -> Result<(), AuthApiError> {
    sqlx::query("update users set email_verified_at = coalesce(email_verified_at, now()) where user_id = $1")
        .bind(user)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
