//! Reports: the numbers of a room or showcase, and per artist over a period (showcases held,
//! new artists, retention), as JSON or CSV.

use super::numbers::{compute, Rules};
use super::store;
use crate::broker::Broker;
use crate::error::BrokerError;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use tandem_shared::ids::{RoomId, ShowcaseId, UserId};
use utoipa::ToSchema;

/// Viewers during one bucket of time.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesPoint {
    /// Start of the bucket.
    pub at: DateTime<Utc>,
    /// Viewers watching during it.
    pub viewers: u64,
}

/// One viewer's watch time.
#[derive(Debug, Serialize, ToSchema)]
pub struct ViewerWatch {
    /// The viewer.
    #[schema(value_type = String, format = Uuid)]
    pub user_id: UserId,
    /// Time watched (two tabs count once), seconds to the millisecond.
    pub watch_seconds: f64,
}

/// Most viewers listed in a report's `top_viewers`.
const TOP_VIEWERS: usize = 100;

/// What a room's audience did.
#[derive(Debug, Serialize, ToSchema)]
pub struct AudienceNumbers {
    /// Viewer sessions (joined across reconnects) with at least the minimum watch time.
    pub views: u64,
    /// Distinct users with a view.
    pub unique_viewers: u64,
    /// Most users watching at once.
    pub peak_concurrent: u64,
    /// Total watch time, minutes.
    pub watch_minutes: f64,
    /// Watch time per view, minutes.
    pub avg_watch_minutes: f64,
    /// Chat messages.
    pub chat_messages: i64,
    /// Tips sent.
    pub tips: i64,
    /// Their total, minor units.
    pub tip_amount: i64,
    /// Prompt votes (AI rooms) and question votes.
    pub votes: i64,
    /// Questions asked (showcases).
    pub questions: i64,
    /// Viewers over time.
    pub series: Vec<SeriesPoint>,
    /// The viewers who watched longest (at most 100), longest first.
    pub top_viewers: Vec<ViewerWatch>,
}

/// Body of `GET /v1/reports/showcases/{id}` and `/v1/reports/rooms/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomReport {
    /// The showcase, for a showcase report.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub showcase_id: Option<ShowcaseId>,
    /// Its room, once started.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub room_id: Option<RoomId>,
    /// Title.
    pub title: String,
    /// When it started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// The numbers.
    pub numbers: AudienceNumbers,
}

fn minutes(ms: i64) -> f64 {
    (ms as f64 / 60_000.0 * 1000.0).round() / 1000.0
}

impl Broker {
    fn view_rules(&self) -> Rules {
        Rules {
            min_view_ms: self.settings.view_min.as_millis() as i64,
            gap_ms: self.settings.view_gap.as_millis() as i64,
        }
    }

    /// The numbers of `room` (none before it started), with `questions` and their votes.
    pub(crate) async fn room_numbers(
        &self,
        room: Option<RoomId>,
        questions: (i64, i64),
    ) -> Result<(AudienceNumbers, BTreeSet<UserId>), BrokerError> {
        let (spans, counts) = match room {
            Some(r) => (store::spans(&self.core.db, r).await?, store::counts(&self.core.db, r).await?),
            None => (Vec::new(), (0, 0, 0, 0)),
        };
        let n = compute(&spans, self.view_rules(), 60_000);
        let mut top: Vec<(UserId, i64)> = n.watch_by_user.iter().map(|(u, ms)| (*u, *ms)).collect();
        top.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        top.truncate(TOP_VIEWERS);
        let numbers = AudienceNumbers {
            views: n.views,
            unique_viewers: n.unique_viewers,
            peak_concurrent: n.peak_concurrent,
            watch_minutes: minutes(n.watch_ms),
            avg_watch_minutes: if n.views == 0 { 0.0 } else { minutes(n.watch_ms / n.views as i64) },
            chat_messages: counts.0,
            tips: counts.1,
            tip_amount: counts.2,
            votes: counts.3 + questions.1,
            questions: questions.0,
            series: n
                .series
                .iter()
                .filter_map(|(at, viewers)| {
                    Utc.timestamp_millis_opt(*at).single().map(|at| SeriesPoint { at, viewers: *viewers })
                })
                .collect(),
            top_viewers: top
                .into_iter()
                .map(|(user_id, ms)| ViewerWatch { user_id, watch_seconds: ms as f64 / 1000.0 })
                .collect(),
        };
        Ok((numbers, n.viewers))
    }
}

/// Questions asked in a showcase and the votes they got.
pub(crate) async fn question_counts(broker: &Broker, showcase: ShowcaseId) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as("select count(*), coalesce(sum(votes), 0)::int8 from showcase_questions where showcase_id = $1")
        .bind(showcase)
        .fetch_one(&broker.core.db)
        .await
}

/// One artist over a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArtistRow {
    /// The artist.
    #[schema(value_type = String, format = Uuid)]
    pub artist_id: UserId,
    /// Their handle on their latest showcase.
    pub handle: String,
    /// Showcases started in the period with them in the line-up.
    pub showcases_held: u64,
    /// Views of those showcases.
    pub views: u64,
    /// Distinct viewers across them.
    pub unique_viewers: u64,
    /// Watch time, minutes.
    pub watch_minutes: f64,
    /// Their first showcase ever.
    pub first_showcase_at: DateTime<Utc>,
    /// Whether that first showcase is in the period (a new artist).
    pub new_in_period: bool,
    /// Their first broadcast after the first showcase, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streamed_again_at: Option<DateTime<Utc>>,
    /// Streamed again within 30 days of their first showcase.
    pub retained_30: bool,
    /// ... within 60 days.
    pub retained_60: bool,
    /// ... within 90 days.
    pub retained_90: bool,
}

/// Totals of an artist report.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArtistSummary {
    /// Showcases started in the period.
    pub showcases_held: u64,
    /// Artists in them.
    pub artists: u64,
    /// Artists whose first showcase is in the period.
    pub new_artists: u64,
    /// New artists who streamed again within 30 days of it.
    pub retained_30: u64,
    /// ... 60 days.
    pub retained_60: u64,
    /// ... 90 days.
    pub retained_90: u64,
    /// `retained_30 / new_artists` (null without new artists). Windows still open count as not
    /// (yet) retained.
    pub retention_30: Option<f64>,
    /// `retained_60 / new_artists`.
    pub retention_60: Option<f64>,
    /// `retained_90 / new_artists`.
    pub retention_90: Option<f64>,
    /// Views of the period's showcases.
    pub views: u64,
    /// Watch time, minutes.
    pub watch_minutes: f64,
}

/// Body of `GET /v1/reports/artists`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArtistReport {
    /// Start of the period (inclusive).
    pub from: DateTime<Utc>,
    /// End of the period (exclusive).
    pub to: DateTime<Utc>,
    /// Totals.
    pub summary: ArtistSummary,
    /// One row per artist, most views first.
    pub artists: Vec<ArtistRow>,
}

#[derive(sqlx::FromRow)]
struct Held {
    room_id: Option<RoomId>,
    artists: Vec<uuid::Uuid>,
    artist_handles: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct First {
    artist_id: uuid::Uuid,
    first_at: DateTime<Utc>,
    again_at: Option<DateTime<Utc>>,
}

/// The artist report over `[from, to)`, for every artist or only `only`.
pub(crate) async fn artist_report(
    broker: &Broker,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    only: Option<UserId>,
) -> Result<ArtistReport, BrokerError> {
    let db = &broker.core.db;
    let held: Vec<Held> = sqlx::query_as(
        "select room_id, artists, artist_handles from showcases
         where started_at >= $1 and started_at < $2 and ($3::uuid is null or $3 = any(artists))
         order by started_at",
    )
    .bind(from)
    .bind(to)
    .bind(only.map(|u| u.0))
    .fetch_all(db)
    .await?;
    struct Acc {
        handle: String,
        held: u64,
        views: u64,
        viewers: BTreeSet<UserId>,
        watch_min: f64,
    }
    let mut acc: BTreeMap<uuid::Uuid, Acc> = BTreeMap::new();
    let mut summary_views = 0;
    let mut summary_watch = 0.0;
    for h in &held {
        let (numbers, viewers) = broker.room_numbers(h.room_id, (0, 0)).await?;
        summary_views += numbers.views;
        summary_watch += numbers.watch_minutes;
        for (i, artist) in h.artists.iter().enumerate() {
            if only.is_some_and(|o| o.0 != *artist) {
                continue;
            }
            let a = acc.entry(*artist).or_insert_with(|| Acc {
                handle: String::new(),
                held: 0,
                views: 0,
                viewers: BTreeSet::new(),
                watch_min: 0.0,
            });
            a.handle = h.artist_handles.get(i).cloned().unwrap_or_default();
            a.held += 1;
            a.views += numbers.views;
            a.viewers.extend(viewers.iter().copied());
            a.watch_min += numbers.watch_minutes;
        }
    }
    let ids: Vec<uuid::Uuid> = acc.keys().copied().collect();
    let firsts: Vec<First> = sqlx::query_as(
        "with firsts as (
             select distinct on (a) a as artist_id, s.started_at as first_at, s.room_id
             from showcases s cross join lateral unnest(s.artists) as a
             where s.started_at is not null and a = any($1)
             order by a, s.started_at)
         select f.artist_id, f.first_at,
                (select min(r.created_at) from rooms r
                 where r.host_id = f.artist_id and r.kind = 'broadcast' and r.created_at > f.first_at
                   and r.room_id is distinct from f.room_id) as again_at
         from firsts f",
    )
    .bind(&ids)
    .fetch_all(db)
    .await?;
    let mut rows = Vec::with_capacity(acc.len());
    let (mut new_artists, mut r30, mut r60, mut r90) = (0u64, 0u64, 0u64, 0u64);
    for f in firsts {
        let Some(a) = acc.remove(&f.artist_id) else { continue };
        let within = |days: i64| f.again_at.is_some_and(|t| t - f.first_at <= Duration::days(days));
        let new_in_period = f.first_at >= from && f.first_at < to;
        let (k30, k60, k90) = (within(30), within(60), within(90));
        if new_in_period {
            new_artists += 1;
            r30 += u64::from(k30);
            r60 += u64::from(k60);
            r90 += u64::from(k90);
        }
        rows.push(ArtistRow {
            artist_id: UserId(f.artist_id),
            handle: a.handle,
            showcases_held: a.held,
            views: a.views,
            unique_viewers: a.viewers.len() as u64,
            watch_minutes: (a.watch_min * 1000.0).round() / 1000.0,
            first_showcase_at: f.first_at,
            new_in_period,
            streamed_again_at: f.again_at,
            retained_30: k30,
            retained_60: k60,
            retained_90: k90,
        });
    }
    rows.sort_by(|a, b| b.views.cmp(&a.views).then(a.first_showcase_at.cmp(&b.first_showcase_at)));
    let rate = |n: u64| (new_artists > 0).then(|| ((n as f64 / new_artists as f64) * 10_000.0).round() / 10_000.0);
    let summary = ArtistSummary {
        showcases_held: held.len() as u64,
        artists: rows.len() as u64,
        new_artists,
        retained_30: r30,
        retained_60: r60,
        retained_90: r90,
        retention_30: rate(r30),
        retention_60: rate(r60),
        retention_90: rate(r90),
        views: summary_views,
        watch_minutes: (summary_watch * 1000.0).round() / 1000.0,
    };
    Ok(ArtistReport { from, to, summary, artists: rows })
}

/// A CSV field: quoted when it holds a comma, quote or line break.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The artist rows as CSV (header first, CRLF line ends, RFC 4180).
pub(crate) fn artists_csv(r: &ArtistReport) -> String {
    let mut out = String::from(
        "artist_id,handle,showcases_held,views,unique_viewers,watch_minutes,first_showcase_at,new_in_period,streamed_again_at,retained_30,retained_60,retained_90\r\n",
    );
    for a in &r.artists {
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
            a.artist_id,
            field(&a.handle),
            a.showcases_held,
            a.views,
            a.unique_viewers,
            a.watch_minutes,
            a.first_showcase_at.to_rfc3339(),
            a.new_in_period,
            a.streamed_again_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            a.retained_30,
            a.retained_60,
            a.retained_90
        );
    }
    out
}

/// A room or showcase report as CSV: a header and one row of numbers (the series stays JSON).
pub(crate) fn room_csv(r: &RoomReport) -> String {
    let n = &r.numbers;
    let mut out = String::from(
        "showcase_id,room_id,title,started_at,ended_at,views,unique_viewers,peak_concurrent,watch_minutes,avg_watch_minutes,chat_messages,tips,tip_amount,votes,questions\r\n",
    );
    let _ = write!(
        out,
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
        r.showcase_id.map(|s| s.to_string()).unwrap_or_default(),
        r.room_id.map(|s| s.to_string()).unwrap_or_default(),
        field(&r.title),
        r.started_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
        r.ended_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
        n.views,
        n.unique_viewers,
        n.peak_concurrent,
        n.watch_minutes,
        n.avg_watch_minutes,
        n.chat_messages,
        n.tips,
        n.tip_amount,
        n.votes,
        n.questions
    );
    out
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(field("ana"), "ana");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
