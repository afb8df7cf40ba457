-- Top-ups in flight (billing service). A top-up reserves its amount against the daily limit in
-- a short transaction, calls Stripe with no transaction or connection held (the reservation id is
-- the Stripe idempotency key), then records the Checkout Session and drops the reservation. A
-- reservation left by a failed or crashed call still counts, conservatively, for 24 hours.
create table topup_reservations (
    reservation_id uuid primary key,
    user_id        uuid not null,
    amount         bigint not null constraint topup_reservations_amount_check check (amount > 0),
    created_at     timestamptz not null default now()
);
create index topup_reservations_user_idx on topup_reservations (user_id, created_at desc);
comment on table topup_reservations is 'owner: billing';
