//! The contracts between services over internal HTTP: the remote implementations of
//! [`PaymentGate`](crate::hooks::PaymentGate), [`RoomControl`](crate::hooks::RoomControl) and
//! [`UserDirectory`](crate::hooks::UserDirectory), and the internal routes that serve the
//! owner's in-process implementation to them. Both ends live here, so the wire format is
//! written once; each owner mounts its routes with its own implementation, and the same
//! contract tests run against the in-process and the remote implementation.
//!
//! Internal routes are under `/internal/` and take only service tokens
//! ([`crate::service_auth`]); nginx and the Kubernetes Ingress never route `/internal/`.

pub mod ai;
pub mod audit;
pub mod client;
pub mod payment;
pub mod rooms;
pub mod users;

use crate::server::Core;
use crate::service_auth::ServiceName;
use anyhow::Context;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

pub use client::{CallError, InternalClient};

/// The owner's implementation of a contract, as app data of its internal routes.
pub(crate) struct LocalContract<T: ?Sized>(pub Arc<T>);

/// A 500 for a failed contract call; the cause goes to the log only.
pub(crate) fn internal_error(what: &str, e: &anyhow::Error) -> actix_web::HttpResponse {
    tracing::error!(error.cause_chain = ?e, "internal {what} failed");
    crate::error::error_response(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
}

/// A `'static` copy of a short code from another service (`[a-z0-9_]`, 1-64 bytes), kept once
/// per distinct value: the contracts use `&'static str` codes and currencies, and the other
/// side is one of ours, so the set stays as small as the set of codes.
pub(crate) fn intern(s: &str) -> Option<&'static str> {
    if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        return None;
    }
    static SEEN: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut seen = SEEN.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(hit) = seen.get(s) {
        return Some(hit);
    }
    if seen.len() >= 1024 {
        return None;
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    seen.insert(leaked);
    Some(leaked)
}

/// A contract a service may need from another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    /// Accounts (auth, `TANDEM_AUTH_URL`).
    Users,
    /// Room control (broker, `TANDEM_BROKER_URL`).
    Rooms,
    /// Payments (billing, `TANDEM_BILLING_URL`).
    Payments,
}

impl Contract {
    /// The variable holding the owner's internal base URL.
    pub fn url_var(&self) -> &'static str {
        match self {
            Contract::Users => "TANDEM_AUTH_URL",
            Contract::Rooms => "TANDEM_BROKER_URL",
            Contract::Payments => "TANDEM_BILLING_URL",
        }
    }

    fn owner(&self) -> ServiceName {
        match self {
            Contract::Users => ServiceName::Auth,
            Contract::Rooms => ServiceName::Broker,
            Contract::Payments => ServiceName::Billing,
        }
    }
}

/// Install remote implementations of `needs` into `core.hooks`, calling as `me`, with base URLs
/// from the environment (`TANDEM_AUTH_URL`, `TANDEM_BROKER_URL`, `TANDEM_BILLING_URL`).
///
/// # Errors
/// A needed URL is missing or malformed: the binary must not start without its contracts.
pub fn install_remote(core: &Core, me: ServiceName, needs: &[Contract]) -> anyhow::Result<()> {
    let urls: Vec<(Contract, String)> = needs
        .iter()
        .map(|c| {
            let url = std::env::var(c.url_var()).ok().filter(|v| !v.trim().is_empty()).with_context(|| {
                format!(
                    "tandem-{} needs {} (the internal URL of the {} service, e.g. http://127.0.0.1:8081); \
                     run every service in one process with `tandem serve` instead",
                    me.as_str(),
                    c.url_var(),
                    c.owner().as_str()
                )
            })?;
            anyhow::ensure!(
                url.starts_with("http://") || url.starts_with("https://"),
                "{} must be an http(s) URL, not `{url}`",
                c.url_var()
            );
            Ok((*c, url))
        })
        .collect::<anyhow::Result<_>>()?;
    for (contract, url) in urls {
        let client = InternalClient::new(&url, core.service_key.clone(), me, contract.owner())?;
        match contract {
            Contract::Users => core.hooks.set_users(Arc::new(users::RemoteUserDirectory::new(client))),
            Contract::Rooms => {
                // The broker serves AI control at the same URL.
                core.hooks.set_ai(Arc::new(ai::RemoteAiControl::new(client.clone())));
                // ... and keeps the audit log.
                core.hooks.set_audit(Arc::new(audit::RemoteAuditLog::new(client.clone())));
                core.hooks.set_rooms(Arc::new(rooms::RemoteRoomControl::new(client)));
            }
            Contract::Payments => core.hooks.set_payment(Arc::new(payment::RemotePaymentGate::new(client))),
        }
        tracing::info!(contract = ?contract, %url, "using a remote contract");
    }
    Ok(())
}
