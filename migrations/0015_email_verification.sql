-- Email verification and single-use email tokens (auth service).

-- When the account proved it receives mail at its address; null: not yet. Accounts made before
-- verification existed count as verified (they were already trusted to go live and be paid).
alter table users add column email_verified_at timestamptz;
update users set email_verified_at = created_at;

-- Single-use tokens sent by email: email verification (24 h) and password reset (1 h). Only the
-- SHA-256 of a token is stored; the token itself exists only in the message.
create table email_tokens (
    email_token_id uuid primary key,
    user_id        uuid not null references users (user_id) on delete cascade,
    purpose        text not null constraint email_tokens_purpose_check check (purpose in ('verify_email', 'password_reset')),
    token_hash     bytea not null constraint email_tokens_token_hash_key unique,
    created_at     timestamptz not null default now(),
    expires_at     timestamptz not null,
    used_at        timestamptz
);
create index email_tokens_user_idx on email_tokens (user_id, purpose);
create index email_tokens_expires_idx on email_tokens (expires_at);
comment on table email_tokens is 'owner: auth';
