//! Tips in broadcast and private rooms.
//!
//! A tip is a ledger spend (fan wallet → creator earnings and platform fee), then a `tip`
//! notice on the room channel that every member sees; the optional note goes only to the
//! creator, as a `tip.note` notice on their user channel. Signaling's `tip` message calls
//! [`Billing::tip`] directly; HTTP clients use `POST /v1/tips`.

use crate::error::BillingError;
use crate::ledger::{self, AccountKind, Posted, TxKind};
use crate::Billing;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tandem_shared::events::{publish, room_channel, user_channel, BusEvent};
use tandem_shared::hooks::RoomKind;
use tandem_shared::ids::{RoomId, UserId};

/// Longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 280;

/// A tip as requested.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct TipRequest {
    /// The room the tipper is in.
    #[schema(value_type = String, format = Uuid)]
    pub room_id: RoomId,
    /// Minor units.
    pub amount: i64,
    /// Shown to the creator only.
    #[serde(default)]
    pub note: Option<String>,
}

/// A tip that was made.
#[derive(Debug, Clone, Serialize)]
pub struct TipReceipt {
    /// The ledger transaction (a retry with the same key gets the original one).
    pub transaction_id: Option<uuid::Uuid>,
    /// True when this answers a retry: the tip was made once, earlier, with the same key.
    pub replayed: bool,
    /// The room.
    pub room_id: RoomId,
    /// Minor units.
    pub amount: i64,
    /// Currency.
    pub currency: &'static str,
    /// The tipper's balance afterwards.
    pub balance: i64,
}

impl Billing {
    /// `from` tips the creator of `req.room_id`. `idempotency_key`, if given, makes a retried
    /// tip apply once, from any socket, node or client: the key is stored with the ledger
    /// transaction (unique), and a retry is answered with the original transaction.
    ///
    /// Callers must have established that `from` is in the room: for private rooms this
    /// checks that `from` is the room's fan; broadcast membership is signaling's (its `tip`
    /// message handler runs on the member's socket).
    ///
    /// # Errors
    /// 400 amount or note invalid, or tipping yourself; 403 not the private room's fan or
    /// frozen wallet; 404 no room; 409 `room_not_live`, or `idempotency_key_reused` when the
    /// key was used for a different tip; 402 insufficient funds.
    pub async fn tip(
        &self,
        from: UserId,
        req: &TipRequest,
        idempotency_key: Option<&str>,
    ) -> Result<TipReceipt, BillingError> {
        let bounds = self.settings.tip;
        if !bounds.contains(req.amount) {
            return Err(BillingError::Validation(format!(
                "amount must be between {} and {} (minor units)",
                bounds.min, bounds.max
            )));
        }
        let note = req.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
        if note.is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS) {
            return Err(BillingError::Validation(format!("note must be at most {MAX_NOTE_CHARS} characters")));
        }
        if let Some(key) = idempotency_key {
            if key.is_empty() || key.len() > 200 {
                return Err(BillingError::Validation("Idempotency-Key must be 1-200 characters".into()));
            }
        }
        let room = self.room(req.room_id).await?.ok_or(BillingError::NotFound("room"))?;
        let creator: UserId = room.host_id;
        if !room.live {
            return Err(BillingError::conflict("room_not_live", "the room has ended"));
        }
        if creator == from {
            return Err(BillingError::Validation("you cannot tip yourself".into()));
        }
        if room.kind == RoomKind::Private && room.guest_id != Some(from) {
            return Err(BillingError::Forbidden("only the fan of a private session can tip in it"));
        }
        let key = match idempotency_key {
            Some(k) => format!("tip:{from}:{k}"),
            None => format!("tip:{from}:{}", uuid::Uuid::new_v4()),
        };
        let bps = self.settings.creator_share_bps;
        let (creator_part, fee) = ledger::split(req.amount, bps);
        let spend = ledger::Spend {
            key,
            kind: TxKind::Tip,
            fan: from,
            creator,
            room: Some(req.room_id),
            amount: req.amount,
            creator_share_bps: bps,
            memo: json!({"gross": req.amount, "creator": creator_part, "fee": fee, "note": note}),
        };
        let mut tx = self.core.db.begin().await?;
        let posted = ledger::spend(&mut tx, self.currency(), &spend).await?;
        let balance = ledger::balance(&mut *tx, AccountKind::Wallet, from, self.currency()).await?.balance;
        tx.commit().await?;
        let (transaction_id, replayed) = match posted {
            Posted::Applied(id) => {
                metrics::counter!("billing_tips_total").increment(1);
                self.announce_tip(from, creator, req, note).await;
                (id, false)
            }
            Posted::Duplicate => (self.original_tip(&spend.key, req).await?, true),
        };
        Ok(TipReceipt {
            transaction_id: Some(transaction_id),
            replayed,
            room_id: req.room_id,
            amount: req.amount,
            currency: self.currency(),
            balance,
        })
    }

    /// The transaction of the tip first made with `key`; refused when it was another tip.
    async fn original_tip(&self, key: &str, req: &TipRequest) -> Result<uuid::Uuid, BillingError> {
        let row: Option<(uuid::Uuid, String, Option<RoomId>, Option<i64>)> = sqlx::query_as(
            "select transaction_id, kind, room_id, (memo->>'gross')::bigint from ledger_transactions
             where idempotency_key = $1",
        )
        .bind(key)
        .fetch_optional(&self.core.db)
        .await?;
        match row {
            Some((id, kind, room, gross))
                if kind == "tip" && room == Some(req.room_id) && gross == Some(req.amount) =>
            {
                Ok(id)
            }
            _ => Err(BillingError::conflict(
                "idempotency_key_reused",
                "this idempotency key was used for a different tip",
            )),
        }
    }

    async fn announce_tip(&self, from: UserId, creator: UserId, req: &TipRequest, note: Option<&str>) {
        let redis = &self.core.redis;
        let handle: Option<String> = self.user(from).await.ok().flatten().map(|u| u.handle);
        let data = json!({
            "room_id": req.room_id,
            "from_user_id": from,
            "from_handle": handle,
            "amount": req.amount,
            "currency": self.currency(),
        });
        let public = BusEvent::Notice { event: "tip".into(), data: data.clone() };
        if let Err(e) = publish(redis, &room_channel(redis, req.room_id), &public).await {
            tracing::warn!(room = %req.room_id, error.cause_chain = ?e, "failed to publish a tip");
        }
        if let Some(note) = note {
            let mut private = data;
            private["note"] = json!(note);
            let event = BusEvent::Notice { event: "tip.note".into(), data: private };
            if let Err(e) = publish(redis, &user_channel(redis, creator), &event).await {
                tracing::warn!(room = %req.room_id, error.cause_chain = ?e, "failed to publish a tip note");
            }
        }
    }
}
