-- Two-factor sign-in with TOTP (RFC 6238) and recovery codes (auth service).

-- One authenticator per account. `secret` is the raw 20-byte key, or, when `sealed`, that key
-- encrypted with TANDEM_TOTP_KEY (AES-256-CCM, a 12-byte nonce first). Enrolment writes an
-- unconfirmed row; the first valid code confirms it. `last_step` is the newest time step a code
-- was accepted for: a code is accepted only for a later step, so each is single-use.
create table totp_credentials (
    user_id      uuid primary key references users (user_id) on delete cascade,
    secret       bytea not null,
    sealed       boolean not null,
    confirmed_at timestamptz,
    last_step    bigint not null default 0,
    created_at   timestamptz not null default now()
);
comment on table totp_credentials is 'owner: auth';

-- Recovery codes, shown once at enrolment; only their SHA-256 is stored. Each works once.
create table totp_recovery_codes (
    user_id   uuid not null references users (user_id) on delete cascade,
    code_hash bytea not null,
    used_at   timestamptz,
    constraint totp_recovery_codes_pkey primary key (user_id, code_hash)
);
comment on table totp_recovery_codes is 'owner: auth';
