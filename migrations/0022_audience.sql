-- Audience numbers (broker-owned), from signaling's batches on the `audience:events` Redis
-- Stream (`tandem_shared::audience`).
--
-- A span is one viewer socket in a broadcast room, from join to leave; it is written at start
-- (`ended_at` null) and completed at its end. Spans of a node that stopped sending batches (it
-- died) end at that node's last batch (`audience_nodes`). Views, unique viewers, peak and watch
-- time are computed from the spans when a report is asked for.
create table room_view_spans (
    room_id    uuid not null,
    conn_id    uuid not null,
    started_at timestamptz not null,
    user_id    uuid not null,
    node       text not null,
    ended_at   timestamptz,
    constraint room_view_spans_pkey primary key (room_id, conn_id, started_at)
);
comment on table room_view_spans is 'owner: broker';

-- Per-room counts added up from every node's batches.
create table room_audience_counts (
    room_id       uuid primary key,
    chat_messages bigint not null default 0,
    tips          bigint not null default 0,
    tip_amount    bigint not null default 0,
    prompt_votes  bigint not null default 0
);
comment on table room_audience_counts is 'owner: broker';

-- Batches applied (a redelivered batch applies once); pruned after 7 days.
create table audience_batches (
    batch_id   uuid primary key,
    applied_at timestamptz not null default now()
);
comment on table audience_batches is 'owner: broker';
create index audience_batches_applied_idx on audience_batches (applied_at);

-- Each signaling node's last batch (nodes send one at least every 15 s).
create table audience_nodes (
    node          text primary key,
    last_batch_at timestamptz not null
);
comment on table audience_nodes is 'owner: broker';

-- Retention: a host's broadcasts in time order.
create index rooms_host_broadcasts_idx on rooms (host_id, created_at) where kind = 'broadcast';
create index showcases_started_idx on showcases (started_at) where started_at is not null;
