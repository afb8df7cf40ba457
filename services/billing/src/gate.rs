//! [`BillingGate`]: billing as the broker sees it ([`PaymentGate`]).

use crate::error::BillingError;
use crate::ledger::{self, AccountKind};
use crate::meter::Refusal;
use crate::Billing;
use chrono::{DateTime, Utc};
use tandem_shared::hooks::{PaymentGate, PaymentRefusal, PriceQuote};
use tandem_shared::ids::{RoomId, UserId};

/// The payment gate installed into `core.hooks` by [`crate::service`].
pub struct BillingGate {
    billing: Billing,
}

impl BillingGate {
    /// A gate over `billing`.
    pub fn new(billing: Billing) -> Self {
        Self { billing }
    }
}

fn unavailable(e: BillingError) -> PaymentRefusal {
    PaymentRefusal::Unavailable(anyhow::anyhow!("{e:?}"))
}

#[async_trait::async_trait]
impl PaymentGate for BillingGate {
    async fn creator_verified(&self, creator: UserId) -> anyhow::Result<bool> {
        self.billing.is_verified(creator).await.map_err(|e| anyhow::anyhow!("{e:?}"))
    }

    async fn quote_private(&self, fan: UserId, creator: UserId) -> Result<Option<PriceQuote>, PaymentRefusal> {
        let b = &self.billing;
        let price = b.price_of(creator).await.map_err(unavailable)?.price_per_minute;
        if price == 0 {
            return Ok(None);
        }
        let wallet = ledger::balance(&b.core.db, AccountKind::Wallet, fan, b.currency())
            .await
            .map_err(|e| unavailable(e.into()))?;
        if wallet.frozen {
            return Err(PaymentRefusal::WalletFrozen);
        }
        if wallet.balance < price {
            return Err(PaymentRefusal::InsufficientFunds { needed: price, available: wallet.balance.max(0) });
        }
        Ok(Some(PriceQuote { price_per_minute: price, currency: b.currency() }))
    }

    async fn start_private(
        &self,
        room: RoomId,
        fan: UserId,
        creator: UserId,
        started_at: DateTime<Utc>,
        price_per_minute: i64,
    ) -> Result<(), PaymentRefusal> {
        if price_per_minute < 0 {
            return Err(PaymentRefusal::Refused {
                code: "invalid_value",
                message: "a price cannot be negative".into(),
            });
        }
        let b = &self.billing;
        b.open_session(room, fan, creator, started_at, price_per_minute).await.map_err(unavailable)?;
        let out = b.settle(room, true).await.map_err(unavailable)?;
        match out.refusal {
            None => Ok(()),
            Some(Refusal::Frozen) => Err(PaymentRefusal::WalletFrozen),
            Some(Refusal::InsufficientFunds { needed, available }) => {
                Err(PaymentRefusal::InsufficientFunds { needed, available })
            }
        }
    }

    async fn tip(
        &self,
        room: RoomId,
        from: UserId,
        amount: i64,
        note: Option<String>,
        idempotency_key: Option<String>,
    ) -> Result<(), PaymentRefusal> {
        let req = crate::tips::TipRequest { room_id: room, amount, note };
        match self.billing.tip(from, &req, idempotency_key.as_deref()).await {
            Ok(_) => Ok(()),
            Err(BillingError::InsufficientFunds { needed, available }) => {
                Err(PaymentRefusal::InsufficientFunds { needed, available })
            }
            Err(BillingError::WalletFrozen) => Err(PaymentRefusal::WalletFrozen),
            Err(BillingError::Validation(message)) => Err(PaymentRefusal::Refused { code: "invalid_value", message }),
            Err(BillingError::Forbidden(m)) => Err(PaymentRefusal::Refused { code: "forbidden", message: m.into() }),
            Err(BillingError::NotFound(_)) => {
                Err(PaymentRefusal::Refused { code: "room_not_found", message: "no such room".into() })
            }
            Err(BillingError::Conflict { code, message }) => Err(PaymentRefusal::Refused { code, message }),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn end_private(&self, room: RoomId) -> anyhow::Result<()> {
        match self.billing.settle(room, true).await {
            Ok(_) | Err(BillingError::NotFound(_)) => Ok(()),
            Err(e) => Err(anyhow::anyhow!("{e:?}")),
        }
    }
}
