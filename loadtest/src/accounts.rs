//! Seeded accounts: `seed` signs up N creators and N fans through the public API and writes
//! them to a JSON-lines file that runs read.

use anyhow::Context;
use futures_util::{stream, StreamExt};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Password of every seeded account (load-test accounts are throwaway).
pub const SEED_PASSWORD: &str = "tandem-loadtest-password";

/// One seeded account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Account {
    /// Login email.
    pub email: String,
    /// Handle.
    pub handle: String,
    /// `creator` or `fan`.
    pub role: String,
    /// User id.
    pub user_id: String,
}

/// A creator and a fan that play one session together.
#[derive(Debug, Clone)]
pub struct Pair {
    /// The creator.
    pub creator: Account,
    /// The fan.
    pub fan: Account,
}

/// Read the accounts file and pair creator i with fan i.
///
/// # Errors
/// Missing or malformed file, or fewer pairs than `need`.
pub fn load_pairs(path: &Path, need: usize) -> anyhow::Result<Vec<Pair>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!("no accounts at {}: run `tandem-loadtest seed --target URL --pairs {need}` first", path.display())
    })?;
    let mut creators = Vec::new();
    let mut fans = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let a: Account =
            serde_json::from_str(line).with_context(|| format!("{}:{}: malformed account", path.display(), i + 1))?;
        if a.role == "creator" {
            creators.push(a);
        } else {
            fans.push(a);
        }
    }
    let have = creators.len().min(fans.len());
    if have < need {
        anyhow::bail!(
            "{} holds {have} pairs but the run needs {need}: run `tandem-loadtest seed --pairs {need}`",
            path.display()
        );
    }
    Ok(creators.into_iter().zip(fans).take(need).map(|(creator, fan)| Pair { creator, fan }).collect())
}

/// Sign up `pairs` creators and fans on `target` and write them to `path`. Accounts that
/// already exist (a re-run of seed) are signed in instead, so seeding is idempotent.
///
/// # Errors
/// The target is down, or a signup fails for another reason than "already exists".
pub async fn seed(target: &str, pairs: usize, prefix: &str, concurrency: usize, path: &Path) -> anyhow::Result<usize> {
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60)).build()?;
    crate::api::check_ready(&http, target).await?;
    let jobs = (0..pairs).flat_map(|i| [("creator", i), ("fan", i)]);
    let bar = indicatif::ProgressBar::new((pairs * 2) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("seeding {bar:40} {pos}/{len} accounts ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let results: Vec<anyhow::Result<Account>> = stream::iter(jobs)
        .map(|(role, i)| {
            let http = http.clone();
            let bar = bar.clone();
            async move {
                let handle = format!("{prefix}_{}{i}", &role[..1]);
                let email = format!("{handle}@loadtest.invalid");
                let a = crate::api::signup_or_login(&http, target, &email, &handle, role, SEED_PASSWORD).await;
                bar.inc(1);
                a.map(|user_id| Account { email, handle, role: role.to_string(), user_id })
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    bar.finish_and_clear();
    let mut out = String::new();
    let mut n = 0;
    for r in results {
        let a = r?;
        out.push_str(&serde_json::to_string(&a)?);
        out.push('\n');
        n += 1;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("Failed to create {}", dir.display()))?;
    }
    std::fs::write(path, out).with_context(|| format!("Failed to write {}", path.display()))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_need_enough_accounts() {
        let dir = std::env::temp_dir().join(format!("tandem-acc-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.jsonl");
        let acc =
            |h: &str, r: &str| Account { email: format!("{h}@x"), handle: h.into(), role: r.into(), user_id: h.into() };
        let lines: Vec<String> = [acc("c0", "creator"), acc("f0", "fan"), acc("c1", "creator")]
            .iter()
            .map(|a| serde_json::to_string(a).unwrap())
            .collect();
        std::fs::write(&path, lines.join("\n")).unwrap();
        let pairs = load_pairs(&path, 1).unwrap();
        assert_eq!(pairs[0].creator.handle, "c0");
        assert_eq!(pairs[0].fan.handle, "f0");
        let err = load_pairs(&path, 2).unwrap_err().to_string();
        assert!(err.contains("seed"), "{err}");
        assert!(load_pairs(&dir.join("missing"), 1).unwrap_err().to_string().contains("seed"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
