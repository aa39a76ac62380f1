-- The national division codes, loaded whole by halfsky.warehouse.reference_load.load_admin_divisions
-- (halfsky.contract.reference.divisions); owned by the database owner, read by both pipeline roles.

create table if not exists reference.admin_divisions (
    code             char(6) primary key,
    name_zh          text not null,
    level            text not null,
    province_code    char(6) not null,
    prefecture_code  char(6),
    county_type      text,     -- county level only: 区, 县, 旗, 自治县, 自治旗, 县级市, 林区, 特区, 其他
    reporting_unit_code char(6),  -- the federation that reports for the region; null for provinces
    longitude        numeric(9, 6),
    latitude         numeric(9, 6)
);
alter table reference.admin_divisions add column if not exists county_type text;
alter table reference.admin_divisions add column if not exists reporting_unit_code char(6);
-- pinyin and the division's kind in English (halfsky.contract.reference.romanised_names), for analysts who read no Chinese
alter table reference.admin_divisions add column if not exists name_en text;
