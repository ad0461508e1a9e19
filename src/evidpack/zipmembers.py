"""Zip member names that would escape an extraction folder.

Members of a zip kept in the payload are never extracted by evidpack, but a
tool that extracts a zip naively would write outside its folder for these
names, so each is reported as a problem wherever zips are read (containers,
productions, WACZ resources)."""

from __future__ import annotations


def unsafe_name(name: str) -> str | None:
    """Why extracting this member name could write outside the target folder, or None."""
    if "\x00" in name:
        return "contains a NUL character"
    if "\\" in name:
        return "contains a backslash (a path separator on Windows)"
    if name.startswith("/"):
        return "is an absolute path"
    if len(name) > 1 and name[1] == ":" and name[0].isalpha():
        return "starts with a drive letter"
    if ".." in name.split("/"):
        return "climbs out of the folder with '..' (path traversal)"
    return None
