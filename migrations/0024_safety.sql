-- Trust and safety (broker-owned): bans, mutes, creators' safety settings, abuse reports and
-- the append-only audit log of privileged actions. See docs/safety.md.

-- A ban keeps a user out of one creator's rooms (creator_id set) or of every room
-- (creator_id null: a platform ban by an operator), until expires_at (null: for good) or until
-- it is lifted.
create table user_bans (
    ban_id     uuid primary key,
    creator_id uuid,
    user_id    uuid not null,
    room_id    uuid,
    reason     text not null,
    banned_by  uuid not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz,
    lifted_at  timestamptz,
    lifted_by  uuid
);
comment on table user_bans is 'owner: broker';
create index user_bans_user_idx on user_bans (user_id) where lifted_at is null;

-- A mute: no chat or prompt proposals in one room until expires_at (null: until it ends).
create table room_mutes (
    room_id    uuid not null,
    user_id    uuid not null,
    reason     text not null,
    muted_by   uuid not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz,
    constraint room_mutes_pkey primary key (room_id, user_id)
);
comment on table room_mutes is 'owner: broker';

-- A creator's rules for their rooms.
create table creator_safety (
    creator_id      uuid primary key,
    slow_mode_secs  integer not null default 0 check (slow_mode_secs between 0 and 3600),
    blocked_words   text[] not null default '{}',
    blocked_regions text[] not null default '{}',
    updated_at      timestamptz not null default now()
);
comment on table creator_safety is 'owner: broker';

-- Users report a user, a room or a chat message; operators work the queue.
create table abuse_reports (
    report_id    uuid primary key,
    reporter_id  uuid not null,
    target_kind  text not null check (target_kind in ('user', 'room', 'message')),
    target_user  uuid,
    room_id      uuid,
    message_text text,
    reason       text not null,
    status       text not null default 'open' check (status in ('open', 'actioned', 'dismissed')),
    created_at   timestamptz not null default now(),
    resolved_by  uuid,
    resolved_at  timestamptz,
    resolution   text
);
comment on table abuse_reports is 'owner: broker';
create index abuse_reports_open_idx on abuse_reports (created_at) where status = 'open';

-- Every privileged action: who (a user, or stripe), what, on whom, where, why, when.
create table audit_log (
    audit_id    bigserial primary key,
    at          timestamptz not null default now(),
    actor_kind  text not null check (actor_kind in ('user', 'stripe')),
    actor_id    uuid,
    action      text not null,
    target_user uuid,
    room_id     uuid,
    reason      text not null,
    service     text not null,
    details     jsonb not null default '{}',
    dedupe_key  text unique
);
comment on table audit_log is 'owner: broker';
create index audit_log_at_idx on audit_log (at desc);
create index audit_log_target_idx on audit_log (target_user, at desc);

-- Append-only: rows are never changed or removed.
create function audit_log_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'audit_log is append-only';
end
$$;
create trigger audit_log_no_update before update or delete on audit_log
    for each row execute function audit_log_append_only();
