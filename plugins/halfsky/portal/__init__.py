"""The front door for prefecture staff: a workbook template per unit and period that cannot be filled in wrong
(``workbook_template``), and the upload page that gives the night's verdict before the file is sent (``app``),
with its accounts (``accounts``) and its audit of uploads (``uploads``).

Judges a file with the night's own code (``halfsky.ingest``) and places accepted files in the landing zone
(``halfsky.config.object_store``); reads the submission log of the warehouse for a unit's history. Imports
contract, config, warehouse and ingest; nothing imports it but its own command line and the dev tooling's
``make up``.
"""
