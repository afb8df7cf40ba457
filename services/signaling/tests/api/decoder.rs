//! Property tests over the client message decoder (the fuzz target: `cargo test -p
//! tandem-signaling decoder`; raise `PROPTEST_CASES` to run longer). Failures proptest finds are
//! kept in `proptest-regressions/` and replayed first.

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use tandem_signaling::protocol::{decode, ErrorCode, CLIENT_TYPES, MAX_REQUEST_ID_CHARS};

const FIELDS: &[&str] = &["type", "request_id", "room_id", "to", "sdp", "candidate", "text", "amount", "user_id", "x"];

/// 2,000 cases per property unless `PROPTEST_CASES` asks for more.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        "\\PC{0,80}".prop_map(Value::String),
        prop::sample::select(CLIENT_TYPES).prop_map(|t| json!(t)),
        Just(json!("00000000-0000-4000-8000-000000000000")),
        Just(json!("v=0\r\n")),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(FIELDS), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,300}") {
        let _ = decode(&s);
    }

    #[test]
    fn arbitrary_bytes_as_lossy_text_never_panic(b in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode(&String::from_utf8_lossy(&b));
    }

    #[test]
    fn json_shaped_frames_are_decoded_or_classified(v in value()) {
        let text = v.to_string();
        match decode(&text) {
            Ok(m) => {
                let id = m.request_id().as_str();
                prop_assert!(!id.is_empty() && id.chars().count() <= MAX_REQUEST_ID_CHARS);
                prop_assert_eq!(v["request_id"].as_str(), Some(id));
                prop_assert!(CLIENT_TYPES.contains(&v["type"].as_str().unwrap_or("")));
            }
            Err(e) => {
                if !v.is_object() {
                    prop_assert_eq!(e.refusal.code, ErrorCode::InvalidJson);
                } else {
                    let known = v["type"].as_str().is_some_and(|t| CLIENT_TYPES.contains(&t));
                    let want = if known { ErrorCode::InvalidMessage } else { ErrorCode::UnknownType };
                    prop_assert_eq!(e.refusal.code, want);
                    // A usable request_id is always echoed.
                    if let Some(id) = v["request_id"].as_str() {
                        let usable = !id.is_empty() && id.chars().count() <= MAX_REQUEST_ID_CHARS;
                        prop_assert_eq!(e.request_id.is_some(), usable);
                    }
                }
                prop_assert!(e.refusal.message.len() < 400);
            }
        }
    }
}
