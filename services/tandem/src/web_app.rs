//! Serves the browser app (static files under `web/`) at `/`.

use actix_web::web;
use std::path::PathBuf;
use std::sync::Arc;
use tandem_shared::server::Service;

/// The directory of the web app: `TANDEM_WEB_DIR`, else `./web`, else the repository's `web/`.
fn web_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("TANDEM_WEB_DIR") {
        return Some(PathBuf::from(dir));
    }
    [PathBuf::from("web"), PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web"))]
        .into_iter()
        .find(|p| p.join("index.html").is_file())
}

struct WebApp {
    dir: Option<PathBuf>,
}

impl Service for WebApp {
    fn name(&self) -> &'static str {
        "web"
    }

    fn configure(&self, cfg: &mut web::ServiceConfig) {
        if let Some(dir) = &self.dir {
            cfg.service(actix_files::Files::new("/", dir).index_file("index.html").prefer_utf8(true));
        }
    }
}

/// The web app service (mounted last, at `/`).
pub fn service() -> anyhow::Result<Arc<dyn Service>> {
    let dir = web_dir();
    match &dir {
        Some(d) => tracing::info!(dir = %d.display(), "serving the web app"),
        None => tracing::warn!("no web/ directory found: the browser app is not served (set TANDEM_WEB_DIR)"),
    }
    Ok(Arc::new(WebApp { dir }))
}
