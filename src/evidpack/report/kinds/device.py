"""Kind ``device``: an extraction as the tool wrote it — what the tool says
about the device (.ufd, report.xml, iTunes backup), the containers with their
member counts, the tool's own hashes against the copy's, and the artifacts the
recognisers found (WeChat/Weixin databases, preferences, media folders)."""

from __future__ import annotations

import re
from typing import Any

from reportlab.platypus import Flowable

from ..cover import key_values
from ..flowables import Column, Lines, Mark, Para, Table
from ..styles import CELL, CELL_MONO, CELL_NOTE, CELL_NOTE_NAME, CELL_PATH, HASH, NOTE, VERDICT_WIDTH
from .common import SourceView, facts_table, subheading, text, time_cell

_KNOWN = ("ufd", "ufdx", "ufdr", "itunes_backups", "containers", "members", "members_not_known_in", "artifacts", "tool_hashes", "tool_hashes_not_listed")
_HEX = re.compile(r"\b[0-9a-f]{32,128}\b")


def render(view: SourceView) -> list[Flowable]:
    facts = view.facts
    out: list[Flowable] = []
    for ufd in facts.get("ufd") or []:
        out += ufd_section(ufd)
    for backup in facts.get("itunes_backups") or []:
        out += itunes_section(backup)
    for report in facts.get("ufdr") or []:
        out += ufdr_section(report) if isinstance(report, dict) else facts_table({"ufdr": report})
    if facts.get("ufdx"):
        out += subheading("UFDX") + facts_table({"ufdx": facts["ufdx"]})
    if "tool_hashes" in facts:
        out += recorded_tool_hashes(facts["tool_hashes"] or [], facts.get("tool_hashes_not_listed") or [])
    else:  # a bundle built before the comparisons were recorded as facts: read from the checks' text
        out += tool_hashes(view.row.get("checks") or [])
    out += containers(facts.get("containers") or [])
    out += artifacts(view.records.get("artifacts"))
    rest = {k: v for k, v in facts.items() if k not in _KNOWN}
    if rest:
        out += subheading("Other facts recorded by the importer") + facts_table(rest)
    return out


NO_SECTION = "(no section name)"


def ufd_section(ufd: dict[str, Any]) -> list[Flowable]:
    """What the .ufd says about the device and the extraction (its hash lines are
    checked below): every value of every key, a date in UTC with its text."""
    rows: list[tuple[str, Any]] = []
    dates = ufd.get("dates") or {}
    for section, table in (ufd.get("sections") or {}).items():
        shown = section or NO_SECTION
        if not isinstance(table, dict):
            rows.append((shown, text(table) or Lines.of(("(empty)", CELL_NOTE))))
            continue
        for key, value in table.items():
            date = dates.get(f"{section}.{key}")
            if date is None and section == "(no section)":  # bundles that stored the dates of these under ".key"
                date = dates.get(f".{key}")
            values = value if isinstance(value, list) else [value]
            for n, v in enumerate(values):
                name = f"{shown} / {key}" + (f" (value {n + 1} of {len(values)})" if len(values) > 1 else "")
                rows.append((name, _ufd_value(v, date, n, len(values))))
    rows.append(("File", f"{ufd.get('file')} ({ufd.get('encoding')}, {ufd.get('line_endings')} line endings)"))
    return subheading(f"Device and extraction, as the .ufd states ({ufd.get('file')})") + [key_values(rows, 0.34)]


def _ufd_value(value: Any, date: Any, n: int, count: int) -> Any:
    """Value ``n`` of ``count`` given for a key: in UTC with its text when ``date``
    (the key's parsed date: one, or one per value) is this value's; else as written."""
    if isinstance(date, list):
        date = date[n] if len(date) == count else None
    if isinstance(date, dict) and date.get("text") == value:
        return time_cell(date)
    return text(value) or Lines.of(("(empty)", CELL_NOTE))


def ufdr_section(report: dict[str, Any]) -> list[Flowable]:
    """What a .ufdr's report.xml says: the tagged files counted, times in UTC with
    their text, the rest as the importer recorded it."""
    out = subheading(f"UFDR report.xml of {report.get('item', '?')}")
    done = {"item", "case_information", "metadata", "repeated_local_paths", "repeated_local_paths_not_listed"}
    rows: list[tuple[str, Any]] = []
    if "tagged_files_with_local_path" in report:
        tagged, local, present = (report.get(k) for k in ("tagged_files", "tagged_files_with_local_path", "tagged_files_in_ufdr"))
        rows.append(("Files tagged in report.xml", text(tagged)))
        rows.append(("… with a copy in the .ufdr", text(present) if present is not None else "not recorded"))
        if isinstance(tagged, int) and isinstance(local, int) and isinstance(present, int):
            rows.append(("… Local Path not in the .ufdr", text(local - present)))
            rows.append(("… with no Local Path", text(tagged - local)))
        done |= {"tagged_files", "tagged_files_with_local_path", "tagged_files_in_ufdr"}
    if rows:
        out.append(key_values(rows, 0.34))
    out += facts_table({k: v for k, v in report.items() if k not in done})
    out += repeated_local_paths(report)
    named = [("case_information", report.get("case_information"))]
    metadata = report.get("metadata")
    named += sorted((f"metadata.{k}", v) for k, v in metadata.items()) if isinstance(metadata, dict) else [("metadata", metadata)]
    for title, entries in named:
        if entries in (None, [], {}):
            continue
        if not (isinstance(entries, list) and all(isinstance(e, dict) for e in entries)):
            out += facts_table({title: entries})
            continue
        out += [Para(title, NOTE, space_before=4, space_after=2), key_values([(text(e.get("name")), _named_value(e)) for e in entries], 0.4)]
    return out


def repeated_local_paths(report: dict[str, Any]) -> list[Flowable]:
    """Local Paths that report.xml gives for more than one tagged file: each tagged
    file's device path and the hashes it gives (WARN when they agree, FAIL when they
    differ: at most one of them can be the member's)."""
    listed = report.get("repeated_local_paths")
    more = report.get("repeated_local_paths_not_listed")
    if not listed and not more:
        return []
    if not (isinstance(listed, list) and all(isinstance(e, dict) for e in listed)):
        return facts_table({"repeated_local_paths": listed, "repeated_local_paths_not_listed": more})
    rows = []
    for e in listed:
        claims = e.get("claims") if isinstance(e.get("claims"), list) else []
        told: list[tuple[Any, Any]] = []
        for n, c in enumerate(claims, 1):
            c = c if isinstance(c, dict) else {"device_path": text(c)}
            told.append((f"{n}. {text(c.get('device_path')) or '(no device path)'}" + (f" ({text(c['size'])} bytes)" if c.get("size") else ""), CELL_NOTE_NAME))
            given = [(f"{a.upper()} {text(c[a])}", HASH) for a in ("sha256", "md5") if c.get(a)]
            told += given or [("no hash given", CELL_NOTE)]
        if e.get("claims_not_listed"):
            told.append((f"and {text(e['claims_not_listed'])} more tagged file(s), not listed", CELL_NOTE))
        agree = e.get("hashes_agree")
        rows.append([
            Mark("warn" if agree is True else "fail"),
            Lines.of((text(e.get("local_path")), CELL_PATH), (f"member {text(e['member'])}" if e.get("member") else "not a member of the .ufdr", CELL_NOTE),
                     (f"{text(e.get('tagged_files'))} tagged files; " + ("the hashes given agree" if agree is True else "the hashes given DIFFER"), CELL_NOTE)),
            Lines.of(*told),
        ])
    out: list[Flowable] = [
        Para("Local Paths given by more than one tagged file (each tagged file's device path and the hashes report.xml gives; "
             "the member record lists them too)", NOTE, space_before=4, space_after=2),
        Table([Column("Verdict", VERDICT_WIDTH), Column("Local Path in the .ufdr", 0.4), Column("Tagged files giving it", 0.6)], rows),
    ]
    if more:
        out.append(Para(f"{text(more)} more such Local Path(s) are counted in the ufdr-local-paths check, not listed here.", NOTE, space_before=3))
    return out


def _named_value(entry: dict[str, Any]) -> Any:
    """A report.xml item or field: a time in UTC (with its text), or its text (with
    why it is not in UTC, when it is a time that states no zone); anything else
    recorded for it after it."""
    value = entry.get("value")
    date = entry.get("date")
    rest = {k: v for k, v in entry.items() if k not in ("name", "value", "date")}
    if isinstance(date, dict) and isinstance(value, str) and date.get("text") == value.strip():
        if date.get("utc"):
            cell: Any = time_cell(date)
        else:
            cell = Lines.of((value, CELL), (f"zone {text(date.get('zone'))}", CELL_NOTE))
    else:
        cell = text(value) or Lines.of(("(empty)", CELL_NOTE))
        if date is not None:
            rest["date"] = date
    if not rest:
        return cell
    return Lines((cell.pieces if isinstance(cell, Lines) else ((cell, CELL),)) + ((text(rest), CELL_NOTE),))


def itunes_section(backup: dict[str, Any]) -> list[Flowable]:
    root = backup.get("root")
    top = root in (".", "")  # the backup is the source's folder itself
    rows: list[tuple[str, Any]] = [
        ("Backup folder", "the source's folder itself" if top else root),
        ("Encrypted", text(backup.get("encrypted"))),
        ("Manifest.db", backup.get("manifest_db")),
    ]
    for group in ("info", "manifest", "status"):
        for key, value in sorted((backup.get(group) or {}).items()):
            rows.append((f"{group.capitalize()}.plist / {key}" if group != "manifest" else f"Manifest.plist / {key}", text(value)))
    for key, value in sorted((backup.get("manifest_db_entries") or {}).items()):
        rows.append((f"Manifest.db entries / {key}", text(value)))
    return subheading("iTunes/Finder backup" if top else f"iTunes/Finder backup ({root})") + [key_values(rows, 0.34)]


def recorded_tool_hashes(facts: list[dict[str, Any]], not_listed: list[dict[str, Any]]) -> list[Flowable]:
    """``facts.tool_hashes``: each hash the acquisition tool recorded (.ufd hash
    lines, .ufdr report.xml) against the digest of the copy."""
    rows = []
    for f in facts:
        where = [(f.get("file"), CELL_PATH)]
        if f.get("device_path"):
            where.append((f"device path {f['device_path']}", CELL_NOTE_NAME))
        where.append((f"recorded in {f.get('from')}", CELL_NOTE))
        rows.append([Mark("pass" if f.get("match") is True else "fail"), Lines.of(*where), str(f.get("algorithm", "")).upper(),
                     Lines.of((f.get("tool"), HASH), (f.get("copy"), HASH))])
    if not rows:
        return []
    notes = [
        Para(f"{n.get('from')}: {text(n.get('matched', 0))} more matched and {text(n.get('mismatched', 0))} more mismatched "
             "hash(es) are counted in its ufdr-reported-hashes check, not listed here.", NOTE, space_before=3)
        for n in not_listed
    ]
    return subheading("The tool's hashes against the copy") + [
        Para("Each hash the extraction tool recorded (a .ufd's hash lines, a .ufdr's report.xml), compared with the digest "
             "evidpack computed while copying the file or reading the member.", NOTE, space_after=3),
        Table([Column("Verdict", VERDICT_WIDTH), Column("File", 1.0), Column("Alg.", 40), Column("The tool's record, then the copy's digest", 282)], rows),
        *notes,
    ]


def tool_hashes(checks: list[dict[str, Any]]) -> list[Flowable]:
    """The acquisition tool's own hash lines against the digests of the copy, read
    from the ufd-* checks' text (bundles built before ``facts.tool_hashes``)."""
    rows = []
    for c in checks:
        name = str(c.get("check", ""))
        if not re.fullmatch(r"ufd-(sha256|sha1|md5)", name):
            continue
        found = _HEX.findall(str(c.get("detail", "")))
        values = Lines.of((found[0], HASH), (found[-1], HASH)) if found else Lines.of((c.get("detail"), CELL_NOTE))
        rows.append([Mark(str(c.get("verdict"))), Lines.of((c.get("subject"), CELL_PATH)), name.removeprefix("ufd-").upper(), values])
    if not rows:
        return []
    return subheading("The tool's hashes against the copy") + [
        Para("Each hash line of the .ufd, compared with the digest evidpack computed while copying the file.", NOTE, space_after=3),
        Table([Column("Verdict", VERDICT_WIDTH), Column("File", 1.0), Column("Alg.", 40), Column("The tool's record, then the copy's digest", 282)], rows),
    ]


def containers(rows: list[dict[str, Any]]) -> list[Flowable]:
    if not rows:
        return []
    table = Table(
        [Column("Item", 64, CELL_MONO), Column("Container", 1.0), Column("Format", 56), Column("Members", 56), Column("Member bytes", 70), Column("Read to its end", VERDICT_WIDTH)],
        (
            [
                Lines.of((c.get("item"), CELL_MONO)),
                Lines.of((c.get("path"), CELL_PATH), (c.get("not_read"), CELL_NOTE)),
                c.get("format"),
                Lines.of(("not known (not read)", CELL_NOTE)) if _unread(c) else text(c.get("members")),
                Lines.of(("not known (not read)", CELL_NOTE)) if _unread(c) else text(c.get("member_bytes")),
                Mark("not-checkable" if _unread(c) else "pass" if c.get("readable") is True else "fail"),
            ]
            for c in rows
        ),
    )
    out = subheading("Containers and their members") + [
        Para("Each container is kept byte for byte as one item; its members were streamed out of the copy and hashed, "
             "and are listed under the container in the item schedule.", NOTE, space_after=3),
        table,
    ]
    for c in rows:
        if isinstance(c.get("android_backup"), dict):
            out += android_backup_header(c)
    return out


def _unread(container: dict[str, Any]) -> bool:
    """Whether the container was not read past its header (an encrypted backup): ``readable`` recorded as None."""
    return "readable" in container and container["readable"] is None


_AB_FIELDS = {
    "version": "Format version",
    "compressed": "Compressed (zlib)",
    "encryption": "Encryption",
    "pbkdf2_rounds": "PBKDF2 rounds",
    "user_password_salt": "User password salt (hex)",
    "master_key_checksum_salt": "Master key checksum salt (hex)",
    "user_key_iv": "User key IV (hex)",
}


def android_backup_header(container: dict[str, Any]) -> list[Flowable]:
    """The header lines of an Android ``.ab``, as the importer read them."""
    header = container["android_backup"]
    rows: list[tuple[str, Any]] = []
    order = list(_AB_FIELDS)
    for key, value in sorted(header.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), str(kv[0]))):
        shown = text(value) if value not in (None, "") else Lines.of(("(empty)", CELL_NOTE))
        if key in ("user_password_salt", "master_key_checksum_salt", "user_key_iv") and isinstance(value, str) and value:
            shown = Lines.of((value, HASH))
        rows.append((_AB_FIELDS.get(key, key), shown))
    return [
        Para(f"Android backup header of {container.get('item')} ({container.get('path')}), as written", NOTE, space_before=4, space_after=2),
        key_values(rows, 0.34),
    ]


def artifacts(record: Any) -> list[Flowable]:
    if not isinstance(record, dict):
        return []
    found = record.get("artifacts") or []
    groups = record.get("groups") or []
    databases = record.get("databases") or []
    findings = record.get("findings") or []
    if not (found or groups or databases or findings):
        return subheading("Artifacts") + [Para("No path matched an artifact recogniser (WeChat/Weixin databases, preferences, media).", NOTE)]
    out: list[Flowable] = subheading("Artifacts recognised (WeChat/Weixin and others)")
    if record.get("about"):
        out.append(Para(record["about"], NOTE, space_after=3))
    if found:
        out.append(
            Table(
                [Column("Item", 64, CELL_MONO), Column("Path and details", 1.0), Column("App and kind", 92), Column("Encrypted", 52)],
                ([Lines.of((a.get("item"), CELL_MONO)), Lines.of((a.get("path"), CELL_PATH), *_details(a)),
                  Lines.of((f"{a.get('app')} ({a.get('platform')})", CELL), (a.get("kind"), CELL_NOTE)),
                  _encrypted(a)] for a in found),
            )
        )
    if databases:
        out += [
            Para("Databases: tables and row counts (from a private read-only copy; an encrypted database cannot be counted)", NOTE, space_before=4, space_after=2),
            Table(
                [Column("Item", 64, CELL_MONO), Column("Path", 0.5), Column("Tables (rows)", 0.5)],
                ([Lines.of((d.get("item"), CELL_MONO)), Lines.of((d.get("path"), CELL_PATH)), _tables(d)] for d in databases),
            ),
        ]
    if groups:
        out += [
            Para("Counted by folder", NOTE, space_before=4, space_after=2),
            Table(
                [Column("Folder", 1.0), Column("App and kind", 92), Column("Files", 40), Column("Bytes", 56), Column("Items", 70)],
                ([Lines.of((g.get("group"), CELL_PATH)), Lines.of((f"{g.get('app')} ({g.get('platform')})", CELL), (g.get("kind"), CELL_NOTE)),
                  text(g.get("count")), text(g.get("bytes")), Lines.of((g.get("first_item"), CELL_MONO), (_last(g), CELL_MONO))] for g in groups),
            ),
        ]
    if findings:
        out += [Para("Findings", NOTE, space_before=4, space_after=2), Table([Column("Finding", 0.25), Column("", 0.75)], ([f.get("finding"), f.get("text") or text(f)] for f in findings), header=False)]
    return out


def _encrypted(artifact: dict[str, Any]) -> str | None:
    if "encrypted" not in artifact:
        return None  # not a question for this kind of artifact
    return {True: "yes", False: "no"}.get(artifact["encrypted"], "not known")


def _last(group: dict[str, Any]) -> str | None:
    last = group.get("last_item")
    return f"… {last}" if last and last != group.get("first_item") else None


def _details(artifact: dict[str, Any]) -> list[tuple[str | None, Any]]:
    skip = {"item", "path", "recogniser", "app", "platform", "kind", "tags", "encrypted"}
    return [(f"{k}: {text(v)}", CELL_NOTE) for k, v in artifact.items() if k not in skip and v not in (None, "", [])]


def _tables(db: dict[str, Any]) -> Lines:
    tables = db.get("tables")
    if tables is None:
        return Lines.of((db.get("error") or db.get("not_counted") or "not counted", CELL_NOTE))
    listed = ", ".join(f"{t.get('table')} ({'?' if t.get('rows') is None else text(t['rows'])})" for t in tables)
    return Lines.of((listed or "no tables", CELL), (db.get("note"), CELL_NOTE))
