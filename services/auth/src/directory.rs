//! [`Directory`]: auth's own [`UserDirectory`], what other services may know of an account.

use sqlx::PgPool;
use tandem_shared::hooks::{UserDirectory, UserSummary};
use tandem_shared::ids::{Role, UserId};

/// Accounts from the `users` table (auth owns it).
pub struct Directory {
    db: PgPool,
}

impl Directory {
    /// A directory over `db`.
    pub fn new(db: PgPool) -> Self {
        Self { db }
    }
}

#[async_trait::async_trait]
impl UserDirectory for Directory {
    async fn user(&self, user: UserId) -> anyhow::Result<Option<UserSummary>> {
        let row: Option<(String, String)> = sqlx::query_as("select role, handle from users where user_id = $1")
            .bind(user)
            .fetch_optional(&self.db)
            .await?;
        row.map(|(role, handle)| {
            let role: Role = role.parse().map_err(|_| anyhow::anyhow!("user {user} has an unknown role {role}"))?;
            Ok(UserSummary { user_id: user, role, handle })
        })
        .transpose()
    }
}
