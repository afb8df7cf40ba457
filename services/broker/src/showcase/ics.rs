//! The schedule as an iCalendar feed (RFC 5545): CRLF line ends, lines folded at 75 octets
//! (never inside a UTF-8 character), TEXT values escaped.

use super::store::ShowcaseRow;
use crate::domain::ShowcaseStatus;
use chrono::{DateTime, Duration, Utc};
use std::fmt::Write;

/// Escape a TEXT value (RFC 5545 §3.3.11).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Append `line` folded to 75 octets per physical line (§3.1), ending in CRLF.
fn push_folded(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The calendar of `showcases`; each event links to `{public_url}/showcase.html?id=…`.
pub(crate) fn calendar(showcases: &[ShowcaseRow], public_url: &str) -> String {
    let mut out = String::new();
    for line in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Tandem//Showcases//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:Tandem showcases",
    ] {
        push_folded(&mut out, line);
    }
    for s in showcases {
        let minutes = super::input::total_minutes(&s.segments.0);
        let start = s.started_at.unwrap_or(s.starts_at);
        let end = s.ended_at.unwrap_or(start + Duration::minutes(minutes));
        let mut description = s.description.clone();
        if !description.is_empty() {
            description.push_str("\n\n");
        }
        let _ = write!(description, "Artists: {}", s.artist_handles.join(", "));
        let plan: Vec<String> =
            s.segments.0.iter().map(|seg| format!("{} {} min", seg.kind.as_str(), seg.minutes)).collect();
        let _ = write!(description, "\nSchedule: {}", plan.join(", "));
        if let Some(reason) = &s.cancel_reason {
            let _ = write!(description, "\nCancelled: {reason}");
        }
        let status = if s.status == ShowcaseStatus::Cancelled { "CANCELLED" } else { "CONFIRMED" };
        let base = public_url.trim_end_matches('/');
        let lines = [
            "BEGIN:VEVENT".to_string(),
            format!("UID:{}@tandem", s.showcase_id),
            format!("DTSTAMP:{}", stamp(s.updated_at)),
            format!("LAST-MODIFIED:{}", stamp(s.updated_at)),
            format!("CREATED:{}", stamp(s.created_at)),
            format!("SEQUENCE:{}", s.sequence),
            format!("DTSTART:{}", stamp(start)),
            format!("DTEND:{}", stamp(end)),
            format!("SUMMARY:{}", escape(&s.title)),
            format!("DESCRIPTION:{}", escape(&description)),
            format!("URL:{base}/showcase.html?id={}", s.showcase_id),
            format!("STATUS:{status}"),
            "END:VEVENT".to_string(),
        ];
        for line in &lines {
            push_folded(&mut out, line);
        }
    }
    push_folded(&mut out, "END:VCALENDAR");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a;b,c\\d\ne"), "a\\;b\\,c\\\\d\\ne");
    }

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_characters() {
        let mut out = String::new();
        let line = format!("SUMMARY:{}", "é".repeat(100));
        push_folded(&mut out, &line);
        for physical in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(physical.len() <= 75, "{} octets", physical.len());
        }
        let unfolded = out.replace("\r\n ", "");
        assert_eq!(unfolded, format!("{line}\r\n"));
    }
}
