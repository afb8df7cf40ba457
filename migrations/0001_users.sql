-- Users and refresh-token families (auth service).

-- Keeps updated_at current on every update of a table that opts in.
create or replace function set_updated_at() returns trigger as $$
begin
    new.updated_at = now();
    return new;
end;
$$ language plpgsql;

create table users (
    user_id       uuid primary key,
    -- Stored as given; uniqueness is case-insensitive through users_email_key below.
    email         text not null constraint users_email_length check (length(email) between 3 and 254),
    handle        text not null constraint users_handle_format check (handle ~ '^[a-z0-9_]{3,30}$'),
    role          text not null constraint users_role_check check (role in ('creator', 'fan', 'operator')),
    password_hash text not null,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now()
);
create unique index users_email_key on users (lower(email));
create unique index users_handle_key on users (handle);
create trigger users_updated_at before update on users for each row execute function set_updated_at();

-- One row per refresh token ever issued. Tokens of one login share a family; presenting a
-- token that was already used revokes the whole family (theft detection).
create table refresh_tokens (
    refresh_token_id uuid primary key,
    family_id        uuid not null,
    user_id          uuid not null references users (user_id) on delete cascade,
    -- SHA-256 of the opaque token; the token itself is never stored.
    token_hash       bytea not null constraint refresh_tokens_token_hash_key unique,
    created_at       timestamptz not null default now(),
    expires_at       timestamptz not null,
    used_at          timestamptz,
    revoked_at       timestamptz
);
create index refresh_tokens_family_idx on refresh_tokens (family_id);
create index refresh_tokens_user_idx on refresh_tokens (user_id);
