//! Tandem session broker: decides when streams exist and who may use them.
//!
//! Every room owns two stream slots, `host` and `guest`, created together (or not at all) and
//! released together. Broadcasts are opened by creators; private 1-to-1 rooms are opened when a
//! creator accepts a fan's request, under a per-creator availability lock in Redis. Hosts and
//! private guests heartbeat; a reaper on every broker ends rooms that go quiet.
//!
//! # Layout
//! - [`config`]: [`config::BrokerSettings`] from the environment.
//! - [`domain`]: room kinds, states, media modes, slot names, presence, end reasons.
//! - [`provider`]: the [`provider::StreamProvider`] trait; [`provider::livepeer`] (Livepeer Studio
//!   client and webhook verification) and [`provider::relay`] (Tandem relay URLs and tokens).
//! - [`store`]: PostgreSQL rows and conditional state changes.
//! - [`presence`]: Redis presence, availability lock and webhook replay guard.
//! - [`ai`]: AI effects on rooms (Daydream client, params table, audio, local mode); implements
//!   `AiControl`.
//! - [`audience`]: audience numbers from signaling (Redis Stream) and the reports built on them.
//! - [`broker`]: [`broker::Broker`], the room lifecycle; implements `RoomControl`.
//! - [`requests`]: private requests: request, accept, decline, cancel, expire.
//! - [`reaper`]: background task ending dead rooms and expiring requests.
//! - [`showcase`]: scheduled showcases (performance + workshop): schedule, start, segments,
//!   iCalendar feed.
//! - [`safety`]: moderation (kick, ban, mute), creators' rules (slow mode, blocklist, blocked
//!   regions), abuse reports and the audit log; implements `AuditLog`.
//! - [`view`]: JSON views of rooms and requests for the caller's role.
//! - [`routes`]: HTTP handlers and the OpenAPI document ([`openapi`]).
//! - [`error`]: [`error::BrokerError`], the one error type of this service.

pub mod ai;
pub mod audience;
pub mod broker;
pub mod config;
pub mod domain;
pub mod error;
pub mod presence;
pub mod provider;
pub mod reaper;
pub mod requests;
pub mod routes;
pub mod safety;
pub mod showcase;
pub mod store;
pub mod view;

use std::sync::Arc;
use tandem_shared::hooks::RoomControl;
use tandem_shared::ids::SlotId;
use tandem_shared::media_token::MediaKey;
use tandem_shared::server::{Core, Service};

pub use broker::Broker;
pub use config::BrokerSettings;
pub use routes::openapi;

/// The broker's routes (plus `/openapi.json` and `/docs/` when `serve_docs`).
pub struct BrokerService {
    broker: Broker,
    serve_docs: bool,
}

impl BrokerService {
    /// The broker behind the routes.
    pub fn broker(&self) -> &Broker {
        &self.broker
    }
}

impl Service for BrokerService {
    fn name(&self) -> &'static str {
        "broker"
    }

    fn configure(&self, cfg: &mut actix_web::web::ServiceConfig) {
        cfg.app_data(actix_web::web::Data::new(self.broker.clone()));
        let control: Arc<dyn RoomControl> = Arc::new(self.broker.clone());
        // Before the rooms scope: actix does not fall through from a matching scope.
        let ai: Arc<dyn tandem_shared::hooks::AiControl> = Arc::new(self.broker.clone());
        tandem_shared::contracts::ai::configure(cfg, &self.broker.core.service_key, ai);
        tandem_shared::contracts::rooms::configure(cfg, &self.broker.core.service_key, control);
        let audit: Arc<dyn tandem_shared::audit::AuditLog> = Arc::new(self.broker.clone());
        tandem_shared::contracts::audit::configure(cfg, &self.broker.core.service_key, audit);
        routes::configure(cfg);
        if self.serve_docs {
            routes::configure_docs(cfg, openapi());
        }
    }

    fn rate_limited_routes(&self) -> &'static [tandem_shared::rate_limit::http::RouteClass] {
        routes::RATE_LIMITED
    }
}

/// Build the broker from `core` and the environment ([`BrokerSettings::from_env`], media key from
/// `TANDEM_MEDIA_TOKEN_SECRET` or the dev file), install it as `core.hooks` room control, start
/// its reaper, and serve its docs unless `TANDEM_BROKER_DOCS=false`.
///
/// # Errors
/// Invalid settings or media key.
pub async fn service(core: &Core) -> anyhow::Result<Arc<dyn Service>> {
    let settings = BrokerSettings::from_env()?;
    let key = MediaKey::load_or_generate(&core.settings)?;
    let serve_docs = std::env::var("TANDEM_BROKER_DOCS").map(|v| v != "false" && v != "0").unwrap_or(true);
    Ok(Arc::new(build(core, settings, key, serve_docs)?))
}

/// Build the broker with explicit settings (tests, benchmarks, embedding).
///
/// # Errors
/// Invalid settings.
pub fn build(core: &Core, settings: BrokerSettings, key: MediaKey, serve_docs: bool) -> anyhow::Result<BrokerService> {
    let broker = Broker::new(core.clone(), settings, key)?;
    core.hooks.set_rooms(Arc::new(broker.clone()));
    core.hooks.set_ai(Arc::new(broker.clone()));
    core.hooks.set_audit(Arc::new(broker.clone()));
    reaper::spawn(broker.clone());
    audience::consumer::spawn(broker.clone());
    Ok(BrokerService { broker, serve_docs })
}

/// Record that a slot started (`true`) or stopped publishing: for an in-process relay.
/// A relay in another process uses `POST /internal/v1/slots/{slot_id}/state` instead.
///
/// # Errors
/// Database errors.
pub async fn set_slot_state(core: &Core, slot: SlotId, publishing: bool) -> anyhow::Result<bool> {
    let changed = store::set_slot_state(&core.db, slot, publishing).await?;
    if let Some(room_id) = changed {
        tracing::info!(%room_id, slot_id = %slot, publishing, "slot state changed");
    }
    Ok(changed.is_some())
}
