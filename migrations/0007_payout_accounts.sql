-- Stripe Connect payouts (billing service): the connected account each creator is paid out to,
-- and the Stripe side of executing a payout request.

-- One connected account (`acct_...`) per creator, set by an operator.
create table creator_payout_accounts (
    creator_id        uuid not null
        constraint creator_payout_accounts_pkey primary key
        constraint creator_payout_accounts_creator_fkey references users (user_id),
    stripe_account_id text not null
        constraint creator_payout_accounts_stripe_account_check check (stripe_account_id ~ '^acct_[A-Za-z0-9]+$'),
    updated_by        uuid constraint creator_payout_accounts_updated_by_fkey references users (user_id),
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now()
);

-- Execution sends a Stripe Transfer first (idempotency key derived from the payout id) and only
-- then posts the ledger and marks the request paid, recording the transfer. A failed attempt
-- leaves the request `requested` with its error, to be retried.
alter table payout_requests
    add column stripe_account_id  text,
    add column stripe_transfer_id text,
    add column attempts           integer not null default 0,
    add column last_attempt_at    timestamptz,
    add column last_error         text,
    add constraint payout_requests_stripe_transfer_id_key unique (stripe_transfer_id),
    add constraint payout_requests_attempts_check check (attempts >= 0);
