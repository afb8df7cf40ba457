-- The price a fan was quoted is the price charged (broker-owned columns): recorded on the
-- request when it is made, copied to the room when the creator accepts, and handed to billing
-- with the start of the session. 0 means free (the creator charged nothing when asked).
alter table private_requests add column price_per_minute bigint not null default 0 check (price_per_minute >= 0);
alter table rooms add column price_per_minute bigint not null default 0 check (price_per_minute >= 0);
