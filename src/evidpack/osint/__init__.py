"""Open-source captures: readers for the formats kind ``osint`` understands.

* :mod:`.warc` — WARC / WARC.gz records and their declared digests (warcio)
* :mod:`.wacz` — WACZ data packages: resources, digest file, signature, pages
* :mod:`.mhtml` — MHTML pages saved by browsers and Hunchly
* :mod:`.images` — PNG and JPEG screenshots: size, text chunks, EXIF

The importer that copies captures into the bundle and writes the records is
:mod:`evidpack.importers.osint`.
"""
