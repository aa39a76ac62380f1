-- The upload page's accounts and its audit of uploads (halfsky.portal). Read by the page only: not a dbt source,
-- never granted to analysts. Every upload is a row, whatever its verdict, so who sent what stays answerable.

create schema if not exists portal;

create table if not exists portal.accounts (
    username       text primary key check (username ~ '^[a-z0-9][a-z0-9._-]{1,62}$'),
    unit_code      char(6) not null,          -- the reporting unit whose files the account sends and sees
    password_hash  text not null,             -- argon2id, by argon2-cffi; never the password
    created_at     timestamptz not null,
    created_by     text not null,
    disabled_at    timestamptz,
    last_login_at  timestamptz
);

create table if not exists portal.uploads (
    upload_id       bigint generated always as identity primary key,
    username        text not null references portal.accounts,
    unit_code       char(6) not null,
    period          text not null,
    file_name       text not null,            -- as sent, printable, id numbers masked: shown, never a path
    format          text,
    size_bytes      bigint not null,
    sha256          char(64),
    received_at     timestamptz not null,
    verdict         text not null check (verdict in ('accepted', 'rejected')),
    reasons         jsonb not null default '[]',
    row_counts      jsonb not null default '{}',
    landed_path     text,                     -- relative to the landing root; null when nothing was placed
    report_html     text not null,            -- the bilingual report the page showed
    client_address  text
);
create index if not exists uploads_unit on portal.uploads (unit_code, received_at desc);
create index if not exists uploads_landed on portal.uploads (landed_path) where landed_path is not null;
