-- Showcases (broker-owned): a scheduled performance followed by a workshop, opened as a
-- broadcast room at start. `artists` are user ids (auth owns accounts; the broker copies each
-- artist's handle at creation, as it does for rooms). The first artist hosts the room.
-- `segments` is the schedule as JSON `[{"kind": "performance"|"workshop", "minutes": n}]`.
-- While live, `segment_index` names the running segment and `segment_ends_at` when the reaper
-- moves to the next one (or ends the showcase after the last). `sequence` is the iCalendar
-- SEQUENCE: bumped on every change a calendar should pick up.
create table showcases (
    showcase_id        uuid primary key,
    title              text not null,
    description        text not null default '',
    starts_at          timestamptz not null,
    artists            uuid[] not null constraint showcases_artists_check check (cardinality(artists) between 1 and 10),
    artist_handles     text[] not null,
    segments           jsonb not null,
    created_by         uuid not null,
    status             text not null default 'scheduled'
        constraint showcases_status_check check (status in ('scheduled', 'live', 'ended', 'cancelled')),
    room_id            uuid references rooms (room_id),
    segment_index      integer,
    segment_started_at timestamptz,
    segment_ends_at    timestamptz,
    started_at         timestamptz,
    ended_at           timestamptz,
    cancel_reason      text,
    -- An AI effect for the room (the `ai` body of `POST /v1/rooms`), applied at start.
    ai                 jsonb,
    -- The last failed automatic start (retried a minute later, within an hour of starts_at).
    start_failed_at    timestamptz,
    sequence           integer not null default 0,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    constraint showcases_live_has_room check (status <> 'live' or (room_id is not null and segment_index is not null))
);
comment on table showcases is 'owner: broker';
create index showcases_starts_idx on showcases (starts_at);
create index showcases_due_idx on showcases (starts_at) where status = 'scheduled';
create index showcases_segment_due_idx on showcases (segment_ends_at) where status = 'live';
create index showcases_room_idx on showcases (room_id) where room_id is not null;
create index showcases_artists_idx on showcases using gin (artists);
