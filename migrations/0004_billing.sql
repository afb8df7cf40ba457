-- Billing: a double-entry ledger, Stripe top-ups, creator pricing, metered private sessions and
-- payouts (billing service). Money is always bigint minor units with a lowercase ISO currency.

-- Every place money can sit. Users own wallets (fans) and earnings (creators); the platform
-- owns one revenue and one Stripe clearing account per currency (user_id null).
create table ledger_accounts (
    account_id uuid primary key,
    kind       text not null
        constraint ledger_accounts_kind_check check (kind in ('wallet', 'earnings', 'platform_revenue', 'stripe_clearing')),
    user_id    uuid references users (user_id),
    currency   text not null constraint ledger_accounts_currency_check check (currency ~ '^[a-z]{3}$'),
    -- Cached sum of this account's entries, updated in the same transaction as the entries;
    -- `ledger_check` verifies it. Wallets never go below zero by spending (conditional update);
    -- only refunds and disputes can take one negative.
    balance    bigint not null default 0,
    -- A wallet taken negative by a refund or dispute: it cannot spend until an operator unfreezes it.
    frozen     boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint ledger_accounts_owner_check check ((kind in ('wallet', 'earnings')) = (user_id is not null)),
    constraint ledger_accounts_kind_user_currency_key unique nulls not distinct (kind, user_id, currency)
);
create trigger ledger_accounts_updated_at before update on ledger_accounts for each row execute function set_updated_at();

-- One movement of money. Retrying an operation reuses its idempotency key, so it applies once.
create table ledger_transactions (
    transaction_id  uuid primary key,
    idempotency_key text not null constraint ledger_transactions_idempotency_key_key unique,
    kind            text not null constraint ledger_transactions_kind_check
        check (kind in ('top_up', 'dev_top_up', 'refund', 'dispute', 'private_minute', 'tip', 'payout')),
    currency        text not null constraint ledger_transactions_currency_check check (currency ~ '^[a-z]{3}$'),
    -- Context for reports (earnings by room, wallet history); not part of the accounting.
    room_id         uuid,
    fan_id          uuid references users (user_id),
    creator_id      uuid references users (user_id),
    memo            jsonb not null default '{}',
    created_at      timestamptz not null default now()
);
create index ledger_transactions_creator_idx on ledger_transactions (creator_id, created_at desc) where creator_id is not null;
create index ledger_transactions_room_idx on ledger_transactions (room_id) where room_id is not null;

-- The legs of a transaction; they sum to zero per transaction. Append-only.
create table ledger_entries (
    entry_id       bigint generated always as identity primary key,
    transaction_id uuid not null references ledger_transactions (transaction_id),
    account_id     uuid not null references ledger_accounts (account_id),
    amount         bigint not null constraint ledger_entries_amount_nonzero check (amount <> 0),
    created_at     timestamptz not null default now()
);
create index ledger_entries_transaction_idx on ledger_entries (transaction_id);
create index ledger_entries_account_idx on ledger_entries (account_id, entry_id desc);

-- Checked at commit (deferred): the transaction of every inserted entry balances.
create function ledger_entries_check_balanced() returns trigger as $$
declare
    total bigint;
begin
    select coalesce(sum(amount), 0) into total from ledger_entries where transaction_id = new.transaction_id;
    if total <> 0 then
        raise exception 'ledger transaction % does not balance (sum %)', new.transaction_id, total
            using errcode = 'check_violation', constraint = 'ledger_entries_balanced';
    end if;
    return null;
end;
$$ language plpgsql;
create constraint trigger ledger_entries_balanced after insert on ledger_entries
    deferrable initially deferred for each row execute function ledger_entries_check_balanced();

-- Entries are history: corrections are new transactions, never edits.
create function ledger_entries_reject_change() returns trigger as $$
begin
    raise exception 'ledger entries are append-only' using errcode = 'restrict_violation';
end;
$$ language plpgsql;
create trigger ledger_entries_append_only before update or delete on ledger_entries
    for each row execute function ledger_entries_reject_change();

-- Each Stripe event id is processed once (recorded in the same transaction as its effect).
create table stripe_events (
    event_id    text primary key,
    type        text not null,
    received_at timestamptz not null default now()
);

-- Checkout Sessions this deployment created; a completed session is credited once.
create table stripe_checkout_sessions (
    session_id        text primary key,
    user_id           uuid not null references users (user_id),
    amount            bigint not null constraint stripe_checkout_sessions_amount_check check (amount > 0),
    currency          text not null,
    status            text not null default 'open'
        constraint stripe_checkout_sessions_status_check check (status in ('open', 'paid')),
    payment_intent_id text,
    -- Refunded so far: `charge.refunded` carries the cumulative amount, so each debits the difference.
    refunded_amount   bigint not null default 0,
    -- Disputed so far; refunds plus disputes never exceed the amount.
    disputed_amount   bigint not null default 0,
    constraint stripe_checkout_sessions_reversal_check check (refunded_amount >= 0 and disputed_amount >= 0
        and refunded_amount + disputed_amount <= amount),
    created_at        timestamptz not null default now(),
    paid_at           timestamptz
);
create index stripe_checkout_sessions_user_idx on stripe_checkout_sessions (user_id, created_at desc);
create unique index stripe_checkout_sessions_payment_intent_key on stripe_checkout_sessions (payment_intent_id)
    where payment_intent_id is not null;

-- A creator's price per started minute of a private session.
create table creator_pricing (
    creator_id       uuid primary key references users (user_id),
    price_per_minute bigint not null constraint creator_pricing_price_check check (price_per_minute >= 0),
    currency         text not null,
    updated_at       timestamptz not null default now()
);

-- Billing state of one private room. The price and split are fixed when the session starts.
-- Minute k starts at started_at + k minutes and is charged by one ledger transaction keyed
-- `private:<room>:<k>`; minutes_charged only moves forward under the row lock.
create table private_sessions (
    room_id            uuid primary key references rooms (room_id),
    fan_id             uuid not null references users (user_id),
    creator_id         uuid not null references users (user_id),
    price_per_minute   bigint not null constraint private_sessions_price_check check (price_per_minute >= 0),
    currency           text not null,
    creator_share_bps  integer not null constraint private_sessions_share_check check (creator_share_bps between 0 and 10000),
    started_at         timestamptz not null,
    minutes_charged    integer not null default 0 constraint private_sessions_minutes_check check (minutes_charged >= 0),
    -- started_at + minutes_charged minutes: when the next minute starts (indexed for the meter).
    next_minute_at     timestamptz not null,
    low_balance_warned boolean not null default false,
    -- Set when billing asked the broker to end the room (retried until the room has ended).
    end_requested      text,
    ended_at           timestamptz
);
create index private_sessions_due_idx on private_sessions (next_minute_at) where ended_at is null;

-- Creator payout requests: executable by an operator once available_at (the holding period) passes.
create table payout_requests (
    payout_id    uuid primary key,
    creator_id   uuid not null references users (user_id),
    amount       bigint not null constraint payout_requests_amount_check check (amount > 0),
    currency     text not null,
    status       text not null default 'requested'
        constraint payout_requests_status_check check (status in ('requested', 'paid', 'cancelled')),
    requested_at timestamptz not null default now(),
    available_at timestamptz not null,
    executed_at  timestamptz,
    executed_by  uuid references users (user_id),
    constraint payout_requests_executed_check check ((status = 'paid') = (executed_at is not null))
);
create index payout_requests_creator_idx on payout_requests (creator_id, requested_at desc);
create index payout_requests_open_idx on payout_requests (available_at) where status = 'requested';
