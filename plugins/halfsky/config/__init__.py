"""How halfsky is configured where it runs: the warehouse, landing and quarantine from Airflow
connections, variables or the environment (``settings``), connection strings (``dsn``), object storage
(``object_store``), private files (``private_files``), the Airflow runtime settings every deployment shares
(``airflow_runtime``) and the masking every halfsky log line gets (``log_masking``).

May import ``halfsky.contract`` only.
"""
