"""WeChat International productions: reading the files of a production (CSV,
XLSX, JSON, HTML) into subscriber accounts and login/IP rows.

* :mod:`.columns` — the header alias table (documented in docs/wechat-production.md)
* :mod:`.tables` — file readers that give raw tables of cells with row numbers
* :mod:`.values` — phone numbers, IP addresses and ports, WeChat IDs
* :mod:`.production` — header detection, row reading, jurisdiction note, request timeline

The importer that copies the production into the bundle and writes the records
is :mod:`evidpack.importers.wechat_production`.
"""
