//! Tandem relay: a selective forwarding WebRTC relay for the `relay` media mode.
//!
//! A slot's publisher sends audio and video over WHIP (RFC 9725); any number of players
//! receive it over WHEP. The relay forwards RTP packets as they are (rewriting SSRC and
//! payload type per subscriber), never decodes or mixes. Each request carries the slot's
//! media token, signed by the broker ([`tandem_shared::media_token`]); the relay tells the
//! broker when a slot starts and stops publishing.
//!
//! # Layout
//! - [`forward`]: the I/O-free core: publishers, feeds, subscribers, packet rewriting, counters.
//! - [`session`]: WebRTC peer connections (webrtc-rs 0.21) that feed and drain the core.
//! - [`routes`]: WHIP/WHEP endpoints, session resources (`DELETE`) and operator stats.
//! - [`settings`]: environment variables (ICE servers, UDP ports, hosts).
//! - [`ports`]: the fixed UDP port range, when configured.
//! - [`slot_events`]: publish start/stop reports to the broker.
//! - [`turn`]: short-lived TURN credentials (TURN REST API, as coturn implements it).
//! - [`release`]: rooms that ended: close their slots' sessions, refuse their tokens.
//! - [`error`]: the relay's error responses.

pub mod error;
pub mod forward;
pub mod ports;
pub mod release;
pub mod routes;
pub mod session;
pub mod settings;
pub mod slot_events;
pub mod turn;

use actix_web::web;
use std::sync::Arc;
use tandem_shared::media_token::MediaKey;
use tandem_shared::server::{Core, Service};

pub use forward::Forwarder;
pub use session::Sessions;
pub use settings::RelaySettings;
pub use slot_events::{BrokerReporter, SlotEvents};

/// The relay's routes, mounted into a server.
pub struct RelayService {
    state: web::Data<routes::RelayState>,
}

impl Service for RelayService {
    fn name(&self) -> &'static str {
        "relay"
    }

    fn configure(&self, cfg: &mut web::ServiceConfig) {
        routes::configure(cfg, self.state.clone());
    }

    fn rate_limited_routes(&self) -> &'static [tandem_shared::rate_limit::http::RouteClass] {
        routes::RATE_LIMITED
    }
}

/// Build the relay from explicit parts (tests use this to replace the broker reporter).
///
/// Must be called inside the tokio runtime peer connections should run on. Every session
/// ends when `core.shutdown` is cancelled; a slot's sessions end when the broker releases it.
pub fn build(core: &Core, settings: RelaySettings, key: MediaKey, events: Arc<dyn SlotEvents>) -> RelayService {
    let settings = Arc::new(settings);
    let forwarder = Forwarder::new();
    let sessions =
        Arc::new(Sessions::new(settings.clone(), forwarder.clone(), tokio::runtime::Handle::current(), events));
    release::spawn_listener(core.redis.clone(), forwarder.clone(), core.shutdown.clone());
    release::spawn_revalidation(
        core.hooks.clone(),
        forwarder.clone(),
        settings.revalidate_interval,
        core.shutdown.clone(),
    );
    let shutdown = core.shutdown.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        forwarder.end_all();
    });
    let state = web::Data::new(routes::RelayState {
        sessions,
        key,
        settings,
        draining: core.draining.clone(),
        redis: core.redis.clone(),
        hooks: core.hooks.clone(),
    });
    RelayService { state }
}

/// The relay service, configured from the environment (see [`settings`]).
///
/// # Errors
/// A relay variable does not parse, or the media-token secret cannot be loaded.
pub async fn service(core: &Core) -> anyhow::Result<Arc<dyn Service>> {
    let settings = RelaySettings::from_env()?;
    let key = MediaKey::load_or_generate(&core.settings)?;
    let broker = settings.broker_url.clone().unwrap_or_else(|| core.settings.public_url.clone());
    let events = Arc::new(BrokerReporter::new(&broker, key.clone())?);
    tracing::info!(hosts = ?settings.hosts, ports = ?settings.udp_ports, ice_servers = settings.ice_servers.len(), "relay ready");
    Ok(Arc::new(build(core, settings, key, events)))
}

impl RelayService {
    /// The forwarding core (stats, tests).
    pub fn forwarder(&self) -> &Forwarder {
        self.state.sessions.forwarder()
    }
}
