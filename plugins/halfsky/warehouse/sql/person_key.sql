-- ingest.person_key: halfsky.warehouse.person_key records and checks it.

-- Which person key built the marts: a keyed fingerprint, never the key. A build with another key is refused.
create table if not exists ingest.person_key (
    singleton    boolean primary key default true check (singleton),
    fingerprint  text not null,
    recorded_at  timestamptz not null default now()
);
