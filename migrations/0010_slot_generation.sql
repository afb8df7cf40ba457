-- Publish generation of a slot (broker service). Relay publish tokens carry the generation they
-- were issued at; the broker bumps it whenever a broadcast's stage changes, and the relay refuses
-- (and ends) publishers of an older generation, so a fan taken off stage cannot keep publishing.
alter table room_slots add column generation integer not null default 0
    constraint room_slots_generation_check check (generation >= 0);
