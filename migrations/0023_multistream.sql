-- Multistream targets of showcases (broker-owned): RTMP/RTMPS/SRT destinations pushed through
-- Livepeer Studio's multistream API. The target URL (with its stream key) is a write-only
-- secret: it is sent to Livepeer once (`POST /multistream/target`) and never stored here; only
-- Livepeer's target id is kept. `status` follows Livepeer's `multistream.*` webhooks.
create table multistream_targets (
    target_id          uuid primary key,
    showcase_id        uuid not null references showcases (showcase_id),
    name               text not null,
    protocol           text not null constraint multistream_targets_protocol_check check (protocol in ('rtmp', 'rtmps', 'srt')),
    livepeer_target_id text not null,
    -- idle: not pushing (showcase not live); pending: added to the live stream, waiting for
    -- Livepeer; connected / error / disconnected: from webhooks; failed: could not be added.
    status             text not null default 'idle'
        constraint multistream_targets_status_check check (status in ('idle', 'pending', 'connected', 'error', 'disconnected', 'failed')),
    -- The Livepeer stream it was added to.
    stream_id          text,
    status_at          timestamptz not null default now(),
    created_at         timestamptz not null default now(),
    deleted_at         timestamptz,
    constraint multistream_targets_livepeer_key unique (livepeer_target_id)
);
comment on table multistream_targets is 'owner: broker';
create index multistream_targets_showcase_idx on multistream_targets (showcase_id) where deleted_at is null;
