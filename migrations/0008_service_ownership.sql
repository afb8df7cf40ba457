-- Each table belongs to one service; no other service reads or writes it (docs/architecture.md).
comment on table users is 'owner: auth';
comment on table refresh_tokens is 'owner: auth';
comment on table rooms is 'owner: broker';
comment on table room_slots is 'owner: broker';
comment on table private_requests is 'owner: broker';
comment on table ledger_accounts is 'owner: billing';
comment on table ledger_transactions is 'owner: billing';
comment on table ledger_entries is 'owner: billing';
comment on table stripe_events is 'owner: billing';
comment on table stripe_checkout_sessions is 'owner: billing';
comment on table creator_pricing is 'owner: billing';
comment on table private_sessions is 'owner: billing';
comment on table payout_requests is 'owner: billing';
comment on table creator_payout_accounts is 'owner: billing';

-- The broker lists live broadcasts with their host's handle without reading auth's users:
-- the handle is copied from the user directory when the room opens.
alter table rooms add column host_handle text not null default '';

-- The broker starts billing for a private room once (billing's PaymentGate::start_private is
-- idempotent); a room whose start was not confirmed (a crash between writing the room and
-- calling billing) is started again by the reaper.
alter table rooms add column billing_started_at timestamptz;
update rooms set billing_started_at = created_at where kind = 'private';

-- No foreign key crosses an ownership line: a service may keep its tables in another database
-- one day, and a row of one service must never block another's write. Drop every foreign key
-- whose table and referenced table have different owners (as commented above).
do $$
declare c record;
begin
    for c in
        select con.conname, rel.relname as tbl
        from pg_constraint con
        join pg_class rel on rel.oid = con.conrelid
        join pg_class ref on ref.oid = con.confrelid
        where con.contype = 'f'
          and rel.relnamespace = current_schema()::regnamespace
          and obj_description(rel.oid, 'pg_class') is distinct from obj_description(ref.oid, 'pg_class')
    loop
        execute format('alter table %I drop constraint %I', c.tbl, c.conname);
    end loop;
end $$;
