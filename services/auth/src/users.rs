//! Account storage.

use crate::domain::{Email, Handle, Password};
use crate::error::AuthApiError;
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
}

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

/// Insert a new account; the password is hashed here.
///
/// # Errors
/// `EmailTaken` / `HandleTaken` on the named unique indexes, or a database failure.
pub async fn create(
    pool: &PgPool,
    email: &Email,
    handle: &Handle,
    password: Password,
    role: Role,
) -> Result<User, AuthApiError> {
    let hash = crate::password::hash(password.expose().to_owned()).await?;
    let user = sqlx::query_as::<_, User>(
        "insert into users (user_id, email, handle, role, password_hash) values ($1, $2, $3, $4, $5)
         returning user_id, email, handle, role, created_at",
    )
    .bind(UserId::new())
    .bind(email.as_ref())
    .bind(handle.as_ref())
    .bind(role.as_str())
    .bind(hash)
    .fetch_one(pool)
    .await
    .map_err(|e| match violated_constraint(&e) {
        Some("users_email_key") => AuthApiError::EmailTaken,
        Some("users_handle_key") => AuthApiError::HandleTaken,
        _ => e.into(),
    })?;
    Ok(user)
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
    Ok(sqlx::query_as("select user_id, email, handle, role, created_at from users where user_id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

/// Create an operator account (CLI only).
///
/// # Errors
/// Invalid input, a taken email/handle, or a database failure.
pub async fn create_operator(pool: &PgPool, email: &str, handle: &str, password: String) -> Result<User, AuthApiError> {
    let email = Email::parse(email).map_err(AuthApiError::Validation)?;
    let handle = Handle::parse(handle).map_err(AuthApiError::Validation)?;
    let password = Password::parse(password).map_err(AuthApiError::Validation)?;
    create(pool, &email, &handle, password, Role::Operator).await
}
