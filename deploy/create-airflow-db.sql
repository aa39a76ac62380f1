-- Airflow's metadata lives beside the warehouse, in its own database.
create database halfsky_airflow owner halfsky;
