-- AI effects on rooms (broker-owned): one row per AI room, created with the room. `mode` is
-- `daydream` (a Daydream StreamDiffusion stream, `stream_id` set) or `local` (no account: the
-- creator's browser applies a local effect from the same prompt and params). `params` holds the
-- validated StreamDiffusion params, `prompt` among them. `apply_key` makes an applied audience
-- round idempotent; `stream_deleted_at` records that the Daydream stream was deleted after the
-- room ended (the reaper retries until it is).
create table room_ai (
    room_id uuid primary key references rooms (room_id),
    mode text not null check (mode in ('daydream', 'local')),
    model_id text not null,
    params jsonb not null,
    stream_id text,
    whip_url text,
    playback_id text,
    apply_key text,
    updated_at timestamptz not null default now(),
    stream_deleted_at timestamptz
);
comment on table room_ai is 'owner: broker';
create index room_ai_undeleted on room_ai (room_id) where stream_id is not null and stream_deleted_at is null;
