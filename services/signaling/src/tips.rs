//! The seam where tips meet billing.
//!
//! With billing in the deployment ([`tandem_shared::hooks::PaymentGate`] installed), a tip is
//! charged to the tipper and credited to the host, and billing announces it to the room (a
//! `notice` event `tip`, and `tip.note` to the host alone). Without billing, signaling only
//! announces it (a `tip` event), which keeps single-process demos working.

use tandem_shared::hooks::PaymentRefusal;
use tandem_shared::ids::UserId;
use tandem_shared::server::Core;

use crate::protocol::{ErrorCode, Refusal};
use crate::rooms::RoomInfo;

/// What became of a tip that was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Billing moved the money and announced it.
    Billed,
    /// No billing here: the caller announces it.
    Unbilled,
}

/// Settle a tip of `amount` minor units from `from` to the host of `room`.
///
/// # Errors
/// Billing refused (insufficient funds, frozen wallet, ...) or is unavailable.
pub async fn settle(core: &Core, room: &RoomInfo, from: UserId, amount: i64, key: String) -> Result<Settled, Refusal> {
    let Some(gate) = core.hooks.payment() else {
        return Ok(Settled::Unbilled);
    };
    match gate.tip(room.room_id, from, amount, None, Some(key)).await {
        Ok(()) => Ok(Settled::Billed),
        Err(PaymentRefusal::InsufficientFunds { needed, available }) => Err(Refusal::new(
            ErrorCode::InvalidValue,
            format!("insufficient funds: {needed} needed, {available} available"),
        )),
        Err(PaymentRefusal::WalletFrozen) => Err(Refusal::new(ErrorCode::Forbidden, "the wallet is frozen")),
        Err(PaymentRefusal::Refused { code, message }) => {
            let code = match code {
                "forbidden" => ErrorCode::Forbidden,
                "room_not_found" => ErrorCode::RoomNotFound,
                "room_not_live" => ErrorCode::RoomEnded,
                _ => ErrorCode::InvalidValue,
            };
            Err(Refusal::new(code, message))
        }
        Err(PaymentRefusal::Unavailable(e)) => {
            tracing::error!(error.cause_chain = ?e, "billing unavailable for a tip");
            Err(Refusal::new(ErrorCode::Unavailable, "billing is temporarily unavailable"))
        }
    }
}
