//! Bodies of `POST` and `PATCH /v1/showcases`, parsed into checked values once.

use crate::domain::Title;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tandem_shared::events::SegmentKind;
use tandem_shared::ids::UserId;
use utoipa::ToSchema;

/// Most artists on one showcase.
pub(crate) const MAX_ARTISTS: usize = 10;
/// Most segments in one schedule.
pub(crate) const MAX_SEGMENTS: usize = 8;
/// Longest segment, minutes.
pub(crate) const MAX_SEGMENT_MINUTES: u32 = 600;
/// Longest description, characters.
pub(crate) const MAX_DESCRIPTION: usize = 2000;
/// How far ahead a showcase may be scheduled.
pub(crate) const MAX_DAYS_AHEAD: i64 = 366;

/// One segment of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentInput {
    /// `performance` or `workshop`.
    pub kind: SegmentKind,
    /// Length in minutes (1–600).
    pub minutes: u32,
}

/// Performance 120 minutes, then workshop 30.
pub(crate) fn default_segments() -> Vec<SegmentInput> {
    vec![
        SegmentInput { kind: SegmentKind::Performance, minutes: 120 },
        SegmentInput { kind: SegmentKind::Workshop, minutes: 30 },
    ]
}

/// Body of `POST /v1/showcases`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShowcase {
    /// 1–140 characters.
    pub title: String,
    /// At most 2,000 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// When it starts (RFC 3339); not in the past, at most a year ahead.
    pub starts_at: DateTime<Utc>,
    /// 1–10 creators; the first hosts the room. A creator schedules only showcases they host.
    #[schema(value_type = Vec<String>)]
    pub artists: Vec<UserId>,
    /// The schedule; performance 120 + workshop 30 when absent.
    #[serde(default)]
    pub segments: Option<Vec<SegmentInput>>,
    /// An AI effect on the room, as in `POST /v1/rooms` (applied at start).
    #[serde(default)]
    pub ai: Option<crate::ai::AiRequest>,
}

/// Body of `PATCH /v1/showcases/{id}` (only while scheduled).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShowcaseChange {
    /// 1–140 characters.
    #[serde(default)]
    pub title: Option<String>,
    /// At most 2,000 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// A new start (not in the past).
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    /// A new line-up (same rules as at creation).
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub artists: Option<Vec<UserId>>,
    /// A new schedule.
    #[serde(default)]
    pub segments: Option<Vec<SegmentInput>>,
}

/// A checked title: trimmed, 1–140 characters.
pub(crate) fn title(s: &str) -> Result<String, String> {
    let t = Title::parse(s)?;
    if t.as_ref().is_empty() {
        return Err("title must not be empty".into());
    }
    Ok(t.as_ref().to_string())
}

/// A checked description: at most 2,000 characters, no control characters but newlines and tabs.
pub(crate) fn description(s: &str) -> Result<String, String> {
    let d = s.trim();
    if d.chars().count() > MAX_DESCRIPTION {
        return Err(format!("description must be at most {MAX_DESCRIPTION} characters"));
    }
    if d.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        return Err("description must not contain control characters".into());
    }
    Ok(d.replace("\r\n", "\n"))
}

/// A start that is not in the past (a minute of clock skew allowed) nor over a year ahead.
pub(crate) fn starts_at(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if at < now - Duration::seconds(60) {
        return Err("starts_at must not be in the past".into());
    }
    if at > now + Duration::days(MAX_DAYS_AHEAD) {
        return Err(format!("starts_at must be within {MAX_DAYS_AHEAD} days"));
    }
    Ok(at)
}

/// 1–10 distinct artists.
pub(crate) fn artists(a: &[UserId]) -> Result<Vec<UserId>, String> {
    if a.is_empty() || a.len() > MAX_ARTISTS {
        return Err(format!("artists must name 1 to {MAX_ARTISTS} users"));
    }
    let mut seen = std::collections::HashSet::new();
    if !a.iter().all(|u| seen.insert(*u)) {
        return Err("artists must not repeat".into());
    }
    Ok(a.to_vec())
}

/// 1–8 segments of 1–600 minutes.
pub(crate) fn segments(s: &[SegmentInput]) -> Result<Vec<SegmentInput>, String> {
    if s.is_empty() || s.len() > MAX_SEGMENTS {
        return Err(format!("segments must list 1 to {MAX_SEGMENTS} segments"));
    }
    if s.iter().any(|seg| seg.minutes == 0 || seg.minutes > MAX_SEGMENT_MINUTES) {
        return Err(format!("each segment lasts 1 to {MAX_SEGMENT_MINUTES} minutes"));
    }
    Ok(s.to_vec())
}

/// The scheduled length of `segments`.
pub(crate) fn total_minutes(segments: &[SegmentInput]) -> i64 {
    segments.iter().map(|s| i64::from(s.minutes)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_bounded() {
        let now = Utc::now();
        assert!(title("  ").is_err());
        assert_eq!(title(" Night set ").unwrap(), "Night set");
        assert!(description(&"x".repeat(2001)).is_err());
        assert_eq!(description("a\r\nb").unwrap(), "a\nb");
        assert!(description("a\u{0}b").is_err());
        assert!(starts_at(now - Duration::hours(1), now).is_err());
        assert!(starts_at(now + Duration::days(400), now).is_err());
        assert!(starts_at(now + Duration::hours(1), now).is_ok());
        let u = UserId::new();
        assert!(artists(&[]).is_err());
        assert!(artists(&[u, u]).is_err());
        assert!(artists(&[UserId::new()]).is_ok());
        assert!(segments(&[]).is_err());
        assert!(segments(&[SegmentInput { kind: SegmentKind::Workshop, minutes: 0 }]).is_err());
        assert_eq!(total_minutes(&default_segments()), 150);
    }

    #[test]
    fn segment_kinds_are_typed() {
        let s: SegmentInput = serde_json::from_str(r#"{"kind":"workshop","minutes":30}"#).unwrap();
        assert_eq!(s.kind, SegmentKind::Workshop);
        assert!(serde_json::from_str::<SegmentInput>(r#"{"kind":"jam","minutes":30}"#).is_err());
    }
}
