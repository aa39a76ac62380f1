-- Whether y-m-d is a calendar date: the date check of an id number's birth date. The functions that find and
-- mask id numbers (reference.id_number_spans, reference.mask_id_numbers) are generated from the Python pattern
-- strings and codes in halfsky.warehouse.schema.mask_id_numbers_sql, which runs this first.

create or replace function reference.is_real_date(y int, m int, d int) returns boolean
language sql immutable parallel safe as $date$
    select m between 1 and 12 and d between 1 and extract(day from make_date(y, m, 1) + interval '1 month - 1 day')::int
$date$;
