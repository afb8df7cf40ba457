-- One row per refresh-token family (auth service). Rotation and revocation both lock this row
-- first (select ... for update), so a revocation waits for a rotation in flight and then sees its
-- successor, and a rotation after a revocation finds the family revoked: no successor escapes.
create table refresh_token_families (
    family_id  uuid primary key,
    user_id    uuid not null references users (user_id) on delete cascade,
    created_at timestamptz not null default now(),
    revoked_at timestamptz
);
comment on table refresh_token_families is 'owner: auth';

insert into refresh_token_families (family_id, user_id, revoked_at)
select family_id, min(user_id::text)::uuid, case when bool_and(revoked_at is not null) then now() end
from refresh_tokens group by family_id;
