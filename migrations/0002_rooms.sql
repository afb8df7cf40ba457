-- Rooms, their two stream slots, and private-session requests (broker service).

create table rooms (
    room_id      uuid primary key,
    kind         text not null constraint rooms_kind_check check (kind in ('broadcast', 'private')),
    status       text not null default 'live' constraint rooms_status_check check (status in ('live', 'ended')),
    media        text not null constraint rooms_media_check check (media in ('relay', 'livepeer', 'p2p')),
    -- The creator: publishes the host slot.
    host_id      uuid not null references users (user_id),
    -- Private rooms: the fan, who publishes the guest slot. Broadcasts: null (stage guests come and go).
    guest_id     uuid references users (user_id),
    title        text not null default '',
    created_at   timestamptz not null default now(),
    ended_at     timestamptz,
    end_reason   text,
    constraint rooms_private_has_guest check (kind <> 'private' or guest_id is not null),
    constraint rooms_ended_has_reason check ((status = 'ended') = (ended_at is not null and end_reason is not null))
);
create index rooms_live_idx on rooms (created_at desc) where status = 'live';
create index rooms_host_idx on rooms (host_id, created_at desc);
create index rooms_guest_idx on rooms (guest_id, created_at desc) where guest_id is not null;
-- A creator hosts at most one live room at a time.
create unique index rooms_one_live_per_host on rooms (host_id) where status = 'live';

-- Exactly two per room, created with it and released with it.
create table room_slots (
    slot_id            uuid primary key,
    room_id            uuid not null references rooms (room_id) on delete cascade,
    name               text not null constraint room_slots_name_check check (name in ('host', 'guest')),
    provider           text not null,
    -- The provider's stream id (Livepeer stream id, or the relay slot id).
    provider_stream_id text,
    -- Livepeer playback id (public) when the provider has one.
    playback_id        text,
    -- Livepeer stream key: a publish credential, handed only to the slot's publisher. Never logged.
    stream_key         text,
    -- publishing | idle, from provider webhooks or relay events.
    state              text not null default 'idle' constraint room_slots_state_check check (state in ('idle', 'publishing')),
    state_changed_at   timestamptz not null default now(),
    -- When the slot last stopped publishing (null before the first publish and while publishing);
    -- the reaper ends a room whose host slot has been idle past the grace period.
    idle_since         timestamptz,
    -- When both the provider stream was deleted and the slot freed; null while held.
    released_at        timestamptz,
    constraint room_slots_room_name_key unique (room_id, name)
);

create table private_requests (
    request_id  uuid primary key,
    fan_id      uuid not null references users (user_id),
    creator_id  uuid not null references users (user_id),
    status      text not null default 'pending'
        constraint private_requests_status_check check (status in ('pending', 'accepted', 'declined', 'cancelled', 'expired')),
    room_id     uuid references rooms (room_id),
    -- Media mode the private room will use once accepted.
    media       text not null default 'relay' constraint private_requests_media_check check (media in ('relay', 'livepeer', 'p2p')),
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null,
    decided_at  timestamptz
);
create index private_requests_creator_idx on private_requests (creator_id, created_at desc);
create index private_requests_fan_idx on private_requests (fan_id, created_at desc);
create index private_requests_pending_expiry_idx on private_requests (expires_at) where status = 'pending';
-- A fan has at most one pending request to a given creator.
create unique index private_requests_one_pending on private_requests (fan_id, creator_id) where status = 'pending';

-- Lookups by provider stream id (webhooks) and sweeps of slots still held by ended rooms.
create index room_slots_provider_stream_idx on room_slots (provider_stream_id) where provider_stream_id is not null;
create index room_slots_unreleased_idx on room_slots (room_id) where released_at is null;
