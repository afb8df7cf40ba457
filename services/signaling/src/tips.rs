//! The seam where tips meet billing.
//!
//! Today a tip is only announced to the room. When billing grows a tip call on
//! [`tandem_shared::hooks::PaymentGate`] (reached through `core.hooks.payment()`), [`settle`]
//! must charge the tipper and credit the host *before* the event is published, and map a
//! refusal (insufficient funds, frozen wallet) to the reply; everything else stays as is.

use tandem_shared::ids::UserId;
use tandem_shared::server::Core;

use crate::protocol::Refusal;
use crate::rooms::RoomInfo;

/// Settle a tip of `amount` minor units from `from` to the host of `room`.
///
/// # Errors
/// Billing refused or failed (once billing is wired here).
pub async fn settle(core: &Core, room: &RoomInfo, from: UserId, amount: i64) -> Result<(), Refusal> {
    if core.hooks.payment().is_some() {
        // The payment gate has no tip operation yet: announce only, and say so in the logs.
        tracing::debug!(room_id = %room.room_id, %from, amount, "tip announced without settlement (no billing tip hook)");
    }
    Ok(())
}
