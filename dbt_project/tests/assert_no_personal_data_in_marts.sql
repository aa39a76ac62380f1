-- No column in marts is named like personal data.
select table_name, column_name
from information_schema.columns
where table_schema = 'marts' and column_name in ('id_number', 'name', 'person_name', '身份证号', '姓名')
