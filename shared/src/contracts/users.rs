//! The [`UserDirectory`] contract over internal HTTP: `GET /internal/v1/users/{id}` (auth).

use super::client::{CallError, InternalClient};
use super::{internal_error, LocalContract};
use crate::hooks::{UserDirectory, UserSummary};
use crate::ids::UserId;
use crate::service_auth::{ServiceCaller, ServiceKey};
use actix_web::{web, HttpResponse};
use reqwest::Method;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a looked-up user is reused (roles and handles do not change in place).
const CACHE_TTL: Duration = Duration::from_secs(60);
const CACHE_MAX: usize = 100_000;

/// The user directory of another process (auth), with a short per-process cache.
pub struct RemoteUserDirectory {
    client: InternalClient,
    cache: Mutex<HashMap<UserId, (UserSummary, Instant)>>,
}

impl RemoteUserDirectory {
    /// A directory calling `client` (whose target is auth).
    pub fn new(client: InternalClient) -> Self {
        Self { client, cache: Mutex::new(HashMap::new()) }
    }
}

#[async_trait::async_trait]
impl UserDirectory for RemoteUserDirectory {
    async fn user(&self, user: UserId) -> anyhow::Result<Option<UserSummary>> {
        if let Ok(cache) = self.cache.lock() {
            if let Some((u, at)) = cache.get(&user) {
                if at.elapsed() < CACHE_TTL {
                    return Ok(Some(u.clone()));
                }
            }
        }
        let path = format!("/internal/v1/users/{user}");
        match self.client.call::<(), UserSummary>(Method::GET, &path, None, None).await {
            Ok(u) => {
                if let Ok(mut cache) = self.cache.lock() {
                    if cache.len() >= CACHE_MAX {
                        cache.clear();
                    }
                    cache.insert(user, (u.clone(), Instant::now()));
                }
                Ok(Some(u))
            }
            Err(CallError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// Serve the directory `local` (auth's own) at `/internal/v1/users`.
pub fn configure(cfg: &mut web::ServiceConfig, key: &ServiceKey, local: Arc<dyn UserDirectory>) {
    cfg.service(
        web::scope("/internal/v1/users")
            .app_data(web::Data::new(key.clone()))
            .app_data(web::Data::new(LocalContract(local)))
            .route("/{user_id}", web::get().to(get_user)),
    );
}

async fn get_user(
    _caller: ServiceCaller,
    local: web::Data<LocalContract<dyn UserDirectory>>,
    path: web::Path<UserId>,
) -> HttpResponse {
    match local.0.user(path.into_inner()).await {
        Ok(Some(u)) => HttpResponse::Ok().json(u),
        Ok(None) => crate::error::error_response(actix_web::http::StatusCode::NOT_FOUND, "not_found", "no such user"),
        Err(e) => internal_error("user lookup", &e),
    }
}
