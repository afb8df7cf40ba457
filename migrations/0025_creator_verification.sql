-- Creator verification (billing-owned): Stripe Identity or an operator's decision. A creator
-- without a row is unverified. See docs/safety.md.
create table creator_verifications (
    creator_id        uuid primary key,
    status            text not null check (status in ('pending', 'requires_input', 'verified', 'rejected')),
    method            text not null check (method in ('stripe', 'operator')),
    stripe_session_id text,
    last_error        text,
    decided_by        uuid,
    updated_at        timestamptz not null default now()
);
comment on table creator_verifications is 'owner: billing';
create unique index creator_verifications_session_idx on creator_verifications (stripe_session_id);
