-- Revoked access tokens (auth service): the record of every logout's access token until it
-- would have expired. Redis (`auth:revoked:{jti}`) is the cache every service checks; auth
-- refills it from here when Redis comes back empty (see `auth:revocations:loaded`).
create table revoked_access_tokens (
    jti        uuid primary key,
    user_id    uuid not null,
    expires_at timestamptz not null,
    revoked_at timestamptz not null default now()
);
create index revoked_access_tokens_expires_idx on revoked_access_tokens (expires_at);
comment on table revoked_access_tokens is 'owner: auth';
