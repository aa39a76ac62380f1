-- What the marts keep of a person whose id number and name were purged (halfsky.warehouse.retention).
-- Run with the raw tables (halfsky.warehouse.schema.raw_table_ddl), so halfsky_loader is given it with raw.

create table if not exists raw.purged_persons (
    pseudonym        char(18) primary key,   -- replaced the id number in raw.beneficiaries: 'P' and 17 hex digits
    beneficiary_key  text not null unique,   -- the marts' key, computed with the person key at the purge
    gender           char(1) not null,
    birth_year       int not null,
    birth_date       date not null,
    issuing_code     char(6) not null        -- the first six digits: the home region the marts show
);
