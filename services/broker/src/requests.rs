//! Private 1-to-1 sessions: request, accept (lock + both slots + room), decline, cancel, expire.

use crate::broker::Broker;
use crate::domain::{end_reason, MediaMode, RequestStatus, RoomKind};
use crate::error::BrokerError;
use crate::presence::{self, Availability};
use crate::store::{self, RequestRow, RoomRow};
use tandem_shared::error::violated_constraint;
use tandem_shared::events::{publish, user_channel, BusEvent};
use tandem_shared::hooks::{PaymentRefusal, PriceQuote};
use tandem_shared::ids::Role;
use tandem_shared::ids::{RequestId, RoomId, UserId};
use tandem_shared::live::record_heartbeat;

const BUSY: BrokerError =
    BrokerError::Conflict { code: "creator_busy", message: "the creator is in another session right now" };
const NOT_PENDING: BrokerError = BrokerError::Conflict {
    code: "request_not_pending",
    message: "the request was already answered, withdrawn or expired",
};

impl Broker {
    /// A fan asks `creator` for a private session.
    ///
    /// # Errors
    /// 404 unknown creator; 409 `creator_offline` | `creator_away` | `creator_busy` |
    /// `request_pending`; 402 when billing refuses.
    pub async fn request_private(
        &self,
        fan: UserId,
        creator: UserId,
        media: Option<MediaMode>,
    ) -> Result<(RequestRow, Option<PriceQuote>), BrokerError> {
        let media = media.unwrap_or(self.settings.private_media);
        self.check_media(RoomKind::Private, media)?;
        let is_creator = matches!(self.user(creator).await?, Some(u) if u.role == Role::Creator);
        if !is_creator || creator == fan {
            return Err(BrokerError::NotFound("creator"));
        }
        if self.is_banned(creator, fan).await? {
            return Err(BrokerError::banned());
        }
        match presence::availability(&self.core.redis, creator).await? {
            Availability::Busy => return Err(BUSY),
            Availability::Set(crate::domain::PresenceStatus::Offline) => {
                return Err(BrokerError::conflict("creator_offline", "the creator is offline"))
            }
            Availability::Set(crate::domain::PresenceStatus::Away) => {
                return Err(BrokerError::conflict("creator_away", "the creator is away"))
            }
            Availability::Set(crate::domain::PresenceStatus::Online) => {}
        }
        let quote = match self.core.hooks.payment() {
            Some(gate) => gate.quote_private(fan, creator).await?,
            None => None,
        };
        let ttl = self.settings.request_ttl.as_secs_f64();
        let price = quote.map_or(0, |q| q.price_per_minute);
        let req = match store::insert_request(&self.core.db, fan, creator, media, ttl, price).await {
            Ok(r) => r,
            Err(e) if violated_constraint(&e) == Some("private_requests_one_pending") => {
                return Err(BrokerError::conflict(
                    "request_pending",
                    "you already have a pending request to this creator",
                ))
            }
            Err(e) => return Err(e.into()),
        };
        let fan_handle = self.user(fan).await?.map(|u| u.handle).unwrap_or_default();
        let event = BusEvent::PrivateRequest {
            request_id: req.request_id,
            fan_id: fan,
            fan_handle,
            expires_at: req.expires_at.timestamp(),
            price_per_minute: quote.map(|q| q.price_per_minute),
        };
        self.notify(creator, &event).await;
        metrics::counter!("broker_private_requests_total").increment(1);
        Ok((req, quote))
    }

    /// The creator accepts: take the availability lock, claim the request, create both slots,
    /// end the creator's broadcast if one is live (`went_private`), write the room, start
    /// billing. Exactly one of two concurrent accepts wins.
    ///
    /// # Errors
    /// 404 not the caller's request; 409 `creator_busy` | `request_not_pending`; 402 billing;
    /// 502/503 provider.
    pub async fn accept(&self, creator: UserId, id: RequestId) -> Result<(RequestRow, RoomRow), BrokerError> {
        let req = self.own_request(id, |r| r.creator_id == creator).await?;
        if req.status != RequestStatus::Pending || req.expires_at <= chrono::Utc::now() {
            return Err(NOT_PENDING);
        }
        self.require_verified(creator).await?;
        if self.is_banned(creator, req.fan_id).await? {
            return Err(BrokerError::banned());
        }
        let room_id = RoomId::new();
        if !presence::take_lock(&self.core.redis, creator, room_id, self.settings.lock_ttl).await? {
            return Err(BUSY);
        }
        match self.open_private(&req, room_id).await {
            Ok(pair) => Ok(pair),
            Err(e) => {
                if let Err(re) = presence::release_lock(&self.core.redis, creator, room_id).await {
                    tracing::error!(%room_id, error.message = %re, "failed to release the lock after a failed accept");
                }
                Err(e)
            }
        }
    }

    /// Accept under the lock: claim, create, write. Undoes its own steps on failure.
    async fn open_private(&self, req: &RequestRow, room_id: RoomId) -> Result<(RequestRow, RoomRow), BrokerError> {
        if store::decide_request(&self.core.db, req.request_id, RequestStatus::Accepted).await?.is_none() {
            return Err(NOT_PENDING);
        }
        let (creator, fan, media) = (req.creator_id, req.fan_id, req.media);
        let host_handle = self.user(creator).await?.map(|u| u.handle).unwrap_or_default();
        let slots = match self.create_slots(room_id, RoomKind::Private, media, creator).await {
            Ok(s) => s,
            Err(e) => {
                store::reopen_request(&self.core.db, req.request_id).await?;
                return Err(e);
            }
        };
        // "Going private": a broadcast the creator is hosting ends now that the pair exists.
        if let Some(live) = store::live_room_of_host(&self.core.db, creator).await? {
            if live.kind == RoomKind::Broadcast {
                self.end_room(live.room_id, end_reason::WENT_PRIVATE).await?;
            }
        }
        let written = async {
            let mut tx = self.core.db.begin().await?;
            let room = store::insert_room(
                &mut tx,
                room_id,
                RoomKind::Private,
                media,
                creator,
                Some(fan),
                "",
                &host_handle,
                req.price_per_minute,
                &slots,
            )
            .await?;
            let req = store::set_request_room(&mut tx, req.request_id, room_id).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>((req, room))
        }
        .await;
        let (req, room) = match written {
            Ok(pair) => pair,
            Err(e) => {
                for slot in &slots {
                    if let (Some(p), Some(s)) = (self.provider(media), &slot.stream) {
                        let _ = p.delete_stream(&s.stream_id).await;
                    }
                }
                store::reopen_request(&self.core.db, req.request_id).await?;
                if violated_constraint(&e) == Some("rooms_one_live_per_host") {
                    return Err(BUSY);
                }
                return Err(e.into());
            }
        };
        record_heartbeat(&self.core.redis, room_id, creator).await?;
        record_heartbeat(&self.core.redis, room_id, fan).await?;
        self.start_billing(&room, true).await?;
        self.notify(fan, &BusEvent::PrivateAccepted { request_id: req.request_id, room_id }).await;
        metrics::counter!("broker_rooms_opened_total", "kind" => "private", "media" => media.as_str()).increment(1);
        tracing::info!(%room_id, %creator, %fan, %media, "private room opened");
        Ok((req, room))
    }

    /// Start billing for a private room (the first minute is charged) and record that it did;
    /// a refusal ends the room with `payment_refused`, and so does billing being unreachable
    /// `at_accept` (later, the reaper just tries again). Without billing in the deployment the
    /// session is free.
    ///
    /// # Errors
    /// 402 billing refused (the room is ended); 503 billing unreachable (the reaper retries).
    pub(crate) async fn start_billing(&self, room: &RoomRow, at_accept: bool) -> Result<(), BrokerError> {
        let Some(gate) = self.core.hooks.payment() else {
            store::mark_billing_started(&self.core.db, room.room_id).await?;
            return Ok(());
        };
        let Some(fan) = room.guest_id else { return Ok(()) };
        match gate.start_private(room.room_id, fan, room.host_id, room.created_at, room.price_per_minute).await {
            Ok(()) => {
                store::mark_billing_started(&self.core.db, room.room_id).await?;
                Ok(())
            }
            Err(PaymentRefusal::Unavailable(e)) if !at_accept => {
                Err(BrokerError::Payment(PaymentRefusal::Unavailable(e)))
            }
            Err(PaymentRefusal::Unavailable(e)) => {
                tracing::error!(room_id = %room.room_id, error.cause_chain = ?e, "billing unreachable at the start of a private room");
                self.end_room(room.room_id, end_reason::PAYMENT_REFUSED).await?;
                Err(BrokerError::Payment(PaymentRefusal::Unavailable(e)))
            }
            Err(refusal) => {
                self.end_room(room.room_id, end_reason::PAYMENT_REFUSED).await?;
                Err(refusal.into())
            }
        }
    }

    /// Confirm billing for live private rooms whose start was never confirmed (the broker
    /// stopped between writing the room and billing's answer). Returns how many were started.
    ///
    /// # Errors
    /// Database errors.
    pub async fn resume_billing_starts(&self) -> Result<usize, BrokerError> {
        let mut started = 0;
        for room in store::private_rooms_without_billing(&self.core.db, 15.0).await? {
            match self.start_billing(&room, false).await {
                Ok(()) => started += 1,
                Err(e) => {
                    tracing::warn!(room_id = %room.room_id, error = ?e, "a private room's billing start was refused")
                }
            }
        }
        Ok(started)
    }

    /// The creator declines a pending request.
    ///
    /// # Errors
    /// 404 not the caller's request; 409 `request_not_pending`.
    pub async fn decline(&self, creator: UserId, id: RequestId) -> Result<RequestRow, BrokerError> {
        self.own_request(id, |r| r.creator_id == creator).await?;
        let req = store::decide_request(&self.core.db, id, RequestStatus::Declined).await?.ok_or(NOT_PENDING)?;
        self.notify(req.fan_id, &BusEvent::PrivateDeclined { request_id: id, reason: "declined".into() }).await;
        Ok(req)
    }

    /// The fan withdraws a pending request.
    ///
    /// # Errors
    /// 404 not the caller's request; 409 `request_not_pending`.
    pub async fn cancel(&self, fan: UserId, id: RequestId) -> Result<RequestRow, BrokerError> {
        let req = self.own_request(id, |r| r.fan_id == fan).await?;
        let req =
            store::decide_request(&self.core.db, req.request_id, RequestStatus::Cancelled).await?.ok_or(NOT_PENDING)?;
        self.notify(req.creator_id, &BusEvent::PrivateDeclined { request_id: id, reason: "cancelled".into() }).await;
        Ok(req)
    }

    /// Expire due requests and tell both sides. Safe on several brokers (rows are claimed once).
    ///
    /// # Errors
    /// Database errors.
    pub async fn expire_requests(&self) -> Result<usize, BrokerError> {
        let expired = store::expire_due_requests(&self.core.db).await?;
        for req in &expired {
            let event = BusEvent::PrivateDeclined { request_id: req.request_id, reason: "expired".into() };
            self.notify(req.fan_id, &event).await;
            self.notify(req.creator_id, &event).await;
        }
        Ok(expired.len())
    }

    /// A request the caller may act on (`owns`), else 404.
    pub(crate) async fn own_request(
        &self,
        id: RequestId,
        owns: impl Fn(&RequestRow) -> bool,
    ) -> Result<RequestRow, BrokerError> {
        match store::request(&self.core.db, id).await? {
            Some(r) if owns(&r) => Ok(r),
            _ => Err(BrokerError::NotFound("request")),
        }
    }

    /// Publish an event on a user's channel; failures are logged (signaling is best-effort).
    pub(crate) async fn notify(&self, user: UserId, event: &BusEvent) {
        if let Err(e) = publish(&self.core.redis, &user_channel(&self.core.redis, user), event).await {
            tracing::warn!(%user, error.cause_chain = ?e, "failed to publish an event");
        }
    }
}
