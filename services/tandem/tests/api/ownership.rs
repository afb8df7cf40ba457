//! No service names another service's table in its SQL: the owners are the ones migration
//! `0008_service_ownership.sql` records (`comment on table <t> is 'owner: <service>'`), and every
//! file of each service crate (code, tests, benches, examples) is scanned for `from|join|into|
//! update|table <t>` with a table it does not own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Table → owning service, from the migrations.
fn owners() -> HashMap<String, String> {
    let mut owners = HashMap::new();
    for entry in std::fs::read_dir(repo().join("migrations")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap().to_lowercase();
        for line in text.lines() {
            let Some(rest) = line.trim().strip_prefix("comment on table ") else { continue };
            let Some((table, owner)) = rest.split_once(" is 'owner: ") else { continue };
            owners.insert(table.trim().to_string(), owner.trim_end_matches("';").trim().to_string());
        }
    }
    owners
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_table_has_an_owner_and_no_service_names_another_services_table() {
    let owners = owners();
    for table in ["users", "rooms", "room_slots", "private_requests", "room_ai", "private_sessions", "ledger_entries"] {
        assert!(owners.contains_key(table), "{table} has no recorded owner: {owners:?}");
    }
    let mut offences = Vec::new();
    for service in ["auth", "broker", "signaling", "billing", "relay"] {
        let mut files = Vec::new();
        rust_files(&repo().join("services").join(service), &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap().to_lowercase();
            let words: Vec<&str> =
                text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).collect();
            for pair in words.windows(2) {
                if !matches!(pair[0], "from" | "join" | "into" | "update" | "table") {
                    continue;
                }
                if let Some(owner) = owners.get(pair[1]) {
                    if owner != service {
                        offences.push(format!("{}: `{} {}` (owned by {owner})", file.display(), pair[0], pair[1]));
                    }
                }
            }
        }
    }
    assert!(offences.is_empty(), "SQL naming another service's table:\n{}", offences.join("\n"));
}
