-- The home region of each issuing code (an id number's first six digits) as a current division.
-- Owned by halfsky.warehouse.reference_load.load_home_regions, its only writer, which runs this before
-- rebuilding the table whole at set-up; ensure_schema does not make it.

create table if not exists reference.home_regions (
    code         char(6) primary key,  -- an id number's first six digits, as issued
    region_code  char(6) not null,     -- the current division it resolves to
    level        text not null,        -- county | prefecture | province
    method       text not null         -- same code | renamed/recoded | via counties | via parent | province only
);
