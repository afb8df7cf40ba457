//! JSON shapes of rooms and requests, built for the caller's role.

use crate::broker::Broker;
use crate::domain::{MediaMode, RequestStatus, RoomKind, RoomStatus, SlotName, SlotState};
use crate::provider::{PlayEndpoint, PublishEndpoint, SlotRef};
use crate::store::{RequestRow, RoomRow, SlotRow};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tandem_shared::hooks::PriceQuote;
use tandem_shared::ids::{RequestId, RoomId, SlotId, UserId};
use utoipa::ToSchema;

/// The caller's part in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoomRole {
    /// The creator (publishes `host`).
    Host,
    /// The private guest, or the user on a broadcast's stage (publishes `guest`).
    Guest,
    /// Anyone else (plays).
    Viewer,
}

/// A room as its caller sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoomView {
    /// Room id.
    #[schema(value_type = String, format = Uuid)]
    pub id: RoomId,
    /// `broadcast` or `private`.
    pub kind: RoomKind,
    /// `live` or `ended`.
    pub status: RoomStatus,
    /// `relay`, `livepeer` or `p2p` (p2p: slots have no endpoints; SDP goes over signaling).
    pub media: MediaMode,
    /// Title (broadcasts).
    pub title: String,
    /// The creator.
    #[schema(value_type = String, format = Uuid)]
    pub host_id: UserId,
    /// The private guest (fan).
    #[schema(value_type = Option<String>, format = Uuid)]
    pub guest_id: Option<UserId>,
    /// Broadcasts: the user on stage (publishes `guest`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub stage_guest_id: Option<UserId>,
    /// The caller's part.
    pub your_role: RoomRole,
    /// Opened at.
    pub created_at: DateTime<Utc>,
    /// Ended at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<String>,
    /// Always two: `host` then `guest`.
    pub slots: Vec<SlotView>,
    /// The room's AI effect, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ai: Option<crate::ai::view::AiView>,
}

/// One slot of a room with the endpoints the caller may use.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SlotView {
    /// `host` or `guest`.
    pub name: SlotName,
    /// Slot id (the relay's stream id).
    #[schema(value_type = String, format = Uuid)]
    pub slot_id: SlotId,
    /// `idle` or `publishing`.
    pub state: SlotState,
    /// Present when the caller publishes this slot (live rooms, not p2p).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish: Option<PublishEndpoint>,
    /// Present when the caller plays this slot (live rooms, not p2p).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub play: Option<PlayEndpoint>,
}

/// Build the view of `room` for `caller`; `stage` is who is on a broadcast's stage.
pub fn room_view(
    broker: &Broker,
    room: &RoomRow,
    slots: &[SlotRow],
    caller: UserId,
    stage: Option<UserId>,
) -> RoomView {
    let stage = stage.filter(|_| room.kind == RoomKind::Broadcast);
    let role = if room.host_id == caller {
        RoomRole::Host
    } else if room.guest_id == Some(caller) || stage == Some(caller) {
        RoomRole::Guest
    } else {
        RoomRole::Viewer
    };
    let live = room.status == RoomStatus::Live;
    let provider = broker.provider(room.media);
    let slots = slots
        .iter()
        .map(|s| {
            let r = SlotRef {
                room_id: room.room_id,
                slot_id: s.slot_id,
                stream_id: s.provider_stream_id.as_deref(),
                playback_id: s.playback_id.as_deref(),
                stream_key: s.stream_key.as_deref(),
                kind: room.kind,
                user: caller,
                generation: u32::try_from(s.generation).unwrap_or(0),
            };
            let publishes =
                matches!((s.name, role), (SlotName::Host, RoomRole::Host) | (SlotName::Guest, RoomRole::Guest));
            // Private rooms are seen only by their two participants; broadcasts by anyone.
            let plays = !publishes && (room.kind == RoomKind::Broadcast || role != RoomRole::Viewer);
            let (publish, play) = match (&provider, live) {
                (Some(p), true) if publishes => (p.publish_endpoint(&r), None),
                (Some(p), true) if plays => (None, p.play_endpoint(&r)),
                _ => (None, None),
            };
            SlotView { name: s.name, slot_id: s.slot_id, state: s.state, publish, play }
        })
        .collect();
    RoomView {
        id: room.room_id,
        kind: room.kind,
        status: room.status,
        media: room.media,
        title: room.title.clone(),
        host_id: room.host_id,
        guest_id: room.guest_id,
        stage_guest_id: stage,
        your_role: role,
        created_at: room.created_at,
        ended_at: room.ended_at,
        end_reason: room.end_reason.clone(),
        slots,
        ai: None,
    }
}

/// A private request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RequestView {
    /// Request id.
    #[schema(value_type = String, format = Uuid)]
    pub id: RequestId,
    /// The fan who asked.
    #[schema(value_type = String, format = Uuid)]
    pub fan_id: UserId,
    /// The creator asked.
    #[schema(value_type = String, format = Uuid)]
    pub creator_id: UserId,
    /// `pending`, `accepted`, `declined`, `cancelled` or `expired`.
    pub status: RequestStatus,
    /// Media mode of the room it opens.
    pub media: MediaMode,
    /// The private room, once accepted.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub room_id: Option<RoomId>,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// The request expires at this time while pending.
    pub expires_at: DateTime<Utc>,
    /// Answered at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
    /// Creator's price per started minute (minor units), when billing is on (creation only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_per_minute: Option<i64>,
    /// Currency of the price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

impl RequestView {
    /// The view of a request row, with the quote if known.
    pub fn new(r: &RequestRow, quote: Option<PriceQuote>) -> Self {
        Self {
            id: r.request_id,
            fan_id: r.fan_id,
            creator_id: r.creator_id,
            status: r.status,
            media: r.media,
            room_id: r.room_id,
            created_at: r.created_at,
            expires_at: r.expires_at,
            decided_at: r.decided_at,
            price_per_minute: quote.map(|q| q.price_per_minute),
            currency: quote.map(|q| q.currency.to_string()),
        }
    }
}
