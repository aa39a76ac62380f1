-- Indexes on the raw tables beyond each one's submission_id index. The raw tables themselves are generated
-- from the contract's forms (halfsky.warehouse.schema.raw_table_ddl), which runs this after them.

-- cash_over_cap looks a person's cash up across every prefecture's history. Only cash rows, and a hash:
-- a btree over every id number cost a 1M-row drop 9 s of random inserts.
drop index if exists raw.beneficiaries_id_number;
create index if not exists beneficiaries_cash_id_number on raw.beneficiaries using hash (id_number) where benefit_type = 'CASH';
