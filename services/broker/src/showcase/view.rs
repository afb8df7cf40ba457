//! The JSON of a showcase.

use super::input::SegmentInput;
use super::store::ShowcaseRow;
use crate::domain::ShowcaseStatus;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use tandem_shared::events::SegmentKind;
use tandem_shared::ids::{RoomId, ShowcaseId, UserId};
use utoipa::ToSchema;

/// An artist of a showcase.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArtistView {
    /// User id.
    #[schema(value_type = String, format = Uuid)]
    pub id: UserId,
    /// Handle at the time the showcase was scheduled.
    pub handle: String,
}

/// The segment running now.
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentSegmentView {
    /// Position in `segments`, from 0.
    pub index: u32,
    /// `performance` or `workshop`.
    pub kind: SegmentKind,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it is scheduled to end.
    pub ends_at: DateTime<Utc>,
}

/// A showcase.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShowcaseView {
    /// Showcase id.
    #[schema(value_type = String, format = Uuid)]
    pub id: ShowcaseId,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Scheduled start.
    pub starts_at: DateTime<Utc>,
    /// Scheduled end (start plus every segment).
    pub ends_at: DateTime<Utc>,
    /// `scheduled`, `live`, `ended` or `cancelled`.
    pub status: ShowcaseStatus,
    /// The first hosts the room.
    pub artists: Vec<ArtistView>,
    /// The schedule.
    pub segments: Vec<SegmentInput>,
    /// The broadcast room, once started (join it over signaling, read it at `/v1/rooms/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub room_id: Option<RoomId>,
    /// While live: the segment running now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_segment: Option<CurrentSegmentView>,
    /// When it really started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it was cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
    /// Whether it carries an AI effect.
    pub ai: bool,
    /// Who scheduled it.
    #[schema(value_type = String, format = Uuid)]
    pub created_by: UserId,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Last changed at.
    pub updated_at: DateTime<Utc>,
}

/// Body of `GET /v1/showcases`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShowcaseList {
    /// Earliest first.
    pub showcases: Vec<ShowcaseView>,
}

/// The view of a row.
pub(crate) fn showcase_view(r: &ShowcaseRow) -> ShowcaseView {
    let minutes = super::input::total_minutes(&r.segments.0);
    let current_segment = match (r.status, r.current_segment(), r.segment_started_at, r.segment_ends_at) {
        (ShowcaseStatus::Live, Some(seg), Some(started_at), Some(ends_at)) => Some(CurrentSegmentView {
            index: r.segment_index.and_then(|i| u32::try_from(i).ok()).unwrap_or(0),
            kind: seg.kind,
            started_at,
            ends_at,
        }),
        _ => None,
    };
    ShowcaseView {
        id: r.showcase_id,
        title: r.title.clone(),
        description: r.description.clone(),
        starts_at: r.starts_at,
        ends_at: r.starts_at + Duration::minutes(minutes),
        status: r.status,
        artists: r
            .artists
            .iter()
            .zip(r.artist_handles.iter().chain(std::iter::repeat(&String::new())))
            .map(|(id, handle)| ArtistView { id: UserId(*id), handle: handle.clone() })
            .collect(),
        segments: r.segments.0.clone(),
        room_id: r.room_id,
        current_segment,
        started_at: r.started_at,
        ended_at: r.ended_at,
        cancel_reason: r.cancel_reason.clone(),
        ai: r.ai.is_some(),
        created_by: r.created_by,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}
