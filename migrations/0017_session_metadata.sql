-- What a signed-in session (a refresh-token family) shows its owner, and whether it signed in
-- with a second factor (auth service).
alter table refresh_token_families
    add column last_used_at timestamptz,
    add column client_addr  text,
    add column user_agent   text,
    add column mfa          boolean not null default false;
update refresh_token_families set last_used_at = created_at;
create index refresh_token_families_user_idx on refresh_token_families (user_id) where revoked_at is null;
