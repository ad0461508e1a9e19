"""Kind ``wechat-production``: a production from WeChat International, from
``records/<source>-wechat.json`` — the request timeline, the accounts (names
exactly as produced), the jurisdiction note for +86 accounts, the login/IP
table in UTC with the original time text beside it, and every row that did not
parse.

Every row is drawn, however many (a production may hold 200,000): the
accounts, logins and parse errors are read back from the record one at a time
as the pages are laid out (:data:`STREAMED`), never held in memory."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from reportlab.platypus import Flowable

from ...wechat.production import JURISDICTION_NOTE, JURISDICTION_NOTE_POSSIBLE
from ..cover import key_values
from ..flowables import Column, Lines, Para, Row, Table
from ..styles import BODY, CELL, CELL_MONO, CELL_NAME, CELL_NOTE, NOTE, TextStyle
from .common import SourceView, subheading, text, time_cell

NOTE_BOX = TextStyle("sans", 8.5, 11.5, (0.45, 0.22, 0.0))
STREAMED = ("accounts", "logins", "parse_errors")  # the record's lists that grow with the production
Entries = Collection[dict[str, Any]]  # a list, or entries read back from the record as drawn
_POSSIBLE = JURISDICTION_NOTE_POSSIBLE.split("{why}")[0]  # how the note of an account that may be +86 begins


def render(view: SourceView) -> list[Flowable]:
    record = view.streamed("wechat", STREAMED)
    if not isinstance(record, dict):
        return [*subheading("Production"), Para("No production record (records/%s-wechat.json) was written." % view.id, NOTE)]
    out: list[Flowable] = [*subheading("Production"), summary(record)]
    out += request(record.get("request"))
    out += accounts(record.get("accounts") or [])
    out += jurisdiction(record.get("jurisdiction") or [])
    out += logins(record.get("logins") or [])
    out += parse_errors(record.get("parse_errors") or [])
    out += files(record.get("files") or [])
    return out


def summary(record: dict[str, Any]) -> Flowable:
    counts = record.get("counts") or {}
    settings = record.get("settings") or {}
    return key_values(
        [
            ("Provider", record.get("provider")),
            ("Record", record.get("format")),
            ("Accounts", text(counts.get("accounts"))),
            ("Login/IP rows", text(counts.get("logins"))),
            ("Rows with problems", f"{text(counts.get('rows_with_problems', 0))} of {text(counts.get('rows', 0))} (every row is kept)"),
            ("Likely or possibly Weixin (+86) accounts", text(counts.get("weixin_likely"))),
            ("Times without a zone read as", settings.get("zone") or "not given (times without a zone are not converted)"),
            ("Date order", settings.get("date_order")),
        ]
    )


def request(req: dict[str, Any] | None) -> list[Flowable]:
    out = subheading("Request timeline")
    if not req:
        return out + [Para("The case manifest gives no request details (options.request), so the response time is not known.", NOTE)]
    row = [
        Lines.of((req.get("type"), CELL), (req.get("reference"), CELL_NOTE)),
        time_cell({"utc": req.get("sent_at"), "original": req.get("sent_at_original")}),
        time_cell({"utc": req.get("received_at"), "original": req.get("received_at_original")}),
        req.get("response_time") or "not known",
        Lines.of((req.get("commitment"), CELL), (f"{req['commitment_hours']} h published commitment" if req.get("commitment_hours") else None, CELL_NOTE)),
    ]
    table = Table(
        [Column("Request", 0.5), Column("Sent (UTC)", 122), Column("Production received (UTC)", 122), Column("Response time", 70), Column("Commitment", 0.5)],
        [row],
    )
    return out + [table]


def accounts(rows: Entries) -> list[Flowable]:
    out = subheading(f"Accounts ({len(rows)})")
    if not rows:
        return out + [Para("No account rows.", NOTE)]

    def line(a: dict[str, Any]) -> list[Any]:
        phone = a.get("phone") or {}
        hidden = a.get("nickname_invisible_characters")
        reg = time_cell(a["registration_time"]) if a.get("registration_time") else None
        country = text(a.get("registration_country"))
        logins = a.get("logins", 0)
        return [
            Lines.of((a.get("wechat_id") or "(none)", CELL_MONO)),
            Lines.of(
                (a.get("nickname") if a.get("nickname") is not None else "(none)", CELL_NAME),
                (f"holds invisible characters: {text(hidden)}" if hidden else None, CELL_NOTE),
            ),
            Lines.of(*phone_cell(phone).pieces, (a.get("email"), CELL)),
            Lines.of(*(reg.pieces if isinstance(reg, Lines) else [(reg, CELL)]), (f"country: {country}" if country else None, CELL)),
            Lines.of(
                (weixin_flag(a), _warn_cell()),
                (f"{logins:,} login row{'' if logins == 1 else 's'}" if isinstance(logins, int) else None, CELL),
                *((f"{p.get('field')}: {p.get('problem')}", CELL_NOTE) for p in a.get("problems") or []),
                *((f"{k}: {text(v)}", CELL_NOTE) for k, v in sorted((a.get("other") or {}).items())),
                (_where(a.get("at")), CELL_NOTE),
            ),
        ]

    # Five columns, not six: the phone with the email (how the account is
    # reached) and the registration time with its country, so that the notes
    # (the +86 flag, problems, other fields, the source row) get the widest
    # column rather than wrapping a word a line. A WeChat ID (at most 20
    # characters) and a UTC time fit their columns on one line.
    table = Table(
        [
            Column("WeChat ID", 92),
            Column("Nickname (exactly as produced)", 0.36),
            Column("Phone (E.164); email", 110),
            Column("Registered (UTC); country", 92),
            Column("Notes; source row", 0.64),
        ],
        (line(a) for a in rows),
    )
    return out + [table]


def phone_cell(phone: dict[str, Any]) -> Lines:
    """The phone as read (E.164), marked when the numbering plan does not allow
    it (``valid: false``) or when it is ambiguous (``readings``), with another
    reading of its digits (``also_reads_as``) and how it was read (``read_as``)."""
    e164, given = phone.get("e164"), phone.get("as_given")
    readings = phone.get("readings") or []
    marks: list[tuple[str | None, TextStyle]] = []
    if readings:
        marks.append(("AMBIGUOUS: not read; it reads as", _warn_cell()))
        for r in readings:
            marks += [(r.get("e164"), CELL_MONO), (f"{'' if r.get('valid') else '(not valid) '}{r.get('read_as')}", CELL_NOTE)]
    elif phone.get("valid") is False:
        marks.append(("NOT A VALID NUMBER in that country's numbering plan", _warn_cell()))
    elif given and not e164:
        marks.append(("not read as a phone number", _warn_cell()))
    if phone.get("also_reads_as"):
        plus86 = str(phone["also_reads_as"]).startswith("+86")
        marks += [
            (f"also reads as (country code first){', possibly +86' if plus86 else ''}:", _warn_cell() if plus86 else CELL_NOTE),
            (phone["also_reads_as"], CELL_MONO),
        ]
    return Lines.of(
        (e164, CELL_MONO),
        *marks,
        (f"read as {phone['read_as']}" if phone.get("read_as") else None, CELL_NOTE),
        (f"as given: {given}" if given and given != e164 else None, CELL_NOTE),
    )


def weixin_flag(a: dict[str, Any]) -> str | None:
    """``+86: likely Weixin`` for a +86 phone; ``possibly +86`` for one that may be (the record's ``weixin_likely``)."""
    if not a.get("weixin_likely"):
        return None
    if (a.get("phone") or {}).get("country_code") == 86:
        return "+86: likely Weixin (see the note below)"
    return "possibly +86: may be Weixin (see the note below)"


def jurisdiction(entries: list[dict[str, Any]]) -> list[Flowable]:
    """The +86 accounts, those whose phone may only be +86 named apart, each with why, and the note once."""
    if not entries:
        return []
    likely = [e for e in entries if not str(e.get("note") or "").startswith(_POSSIBLE)]
    possible = [e for e in entries if str(e.get("note") or "").startswith(_POSSIBLE)]
    out = subheading("Jurisdiction note: +86 accounts")
    if likely:
        ids = ", ".join(f"{e.get('wechat_id')} ({e.get('phone')})" for e in likely)
        out.append(Para(f"Accounts linked to a mainland-China (+86) number: {ids}.", BODY, space_after=3))
    if possible:
        out.append(Para("Accounts whose linked number may be a mainland-China (+86) number:", BODY, space_after=2))
        for e in possible:
            why = str(e.get("note"))[len(_POSSIBLE):].split("; see the row's problems)", 1)[0].split(" If so:", 1)[0]
            out.append(Para(f"{e.get('wechat_id')} ({e.get('phone')}): possibly +86, {why}.", BODY, space_after=2))
    out.append(Para(JURISDICTION_NOTE, NOTE_BOX, space_after=6))
    return out


def logins(rows: Entries) -> list[Flowable]:
    out = subheading(f"Logins and IP addresses ({len(rows):,}), in UTC")
    if not rows:
        return out + [Para("No login/IP rows.", NOTE)]

    def lines() -> Iterator[Row]:
        for entry in rows:
            t = entry.get("time") or {}
            ip = entry.get("ip") or entry.get("ip_as_given")
            port = entry.get("port")
            yield [
                Lines.of((t.get("utc") or "not read", CELL_MONO if t.get("utc") else CELL_NOTE)),
                Lines.of((t.get("original"), CELL), (f"{t.get('zone')}, from {t.get('zone_source')}" if t.get("zone") else "zone not stated", CELL_NOTE)),
                Lines.of((entry.get("wechat_id"), CELL_MONO)),
                Lines.of(
                    ((f"[{ip}]:{port}" if ":" in str(ip) else f"{ip}:{port}") if ip and port is not None else ip, CELL_MONO),
                    (f"IPv{entry['ip_version']}" if entry.get("ip_version") else None, CELL_NOTE),
                    (f"as given: {entry['ip_as_given']}" if entry.get("ip_as_given") and entry.get("ip_as_given") != ip else None, CELL_NOTE),
                ),
                Lines.of(
                    *((entry.get(k), CELL) for k in ("event", "device", "location")),
                    *((f"{p.get('field')}: {p.get('problem')}", CELL_NOTE) for p in entry.get("problems") or []),
                    (_where(entry.get("at")), CELL_NOTE),
                ),
            ]

    table = Table(
        [Column("Time (UTC)", 92), Column("Time as produced", 0.3), Column("WeChat ID", 96), Column("IP address and port", 0.35), Column("Event, device, location; source row", 0.35)],
        lines(),
    )
    return out + [table]


def parse_errors(rows: Entries) -> list[Flowable]:
    if not rows:
        return subheading("Rows that did not parse") + [Para("None: every value of every row was read.", NOTE)]
    table = Table(
        [Column("Where", 0.3), Column("Field", 0.12), Column("Value as produced", 0.25), Column("Problem", 0.33)],
        ([_where(e), e.get("field"), Lines.of((e.get("value"), CELL_MONO)), e.get("problem")] for e in rows),
    )
    return subheading(f"Rows that did not parse ({len(rows):,}); each row is kept as produced") + [table]


def files(rows: list[dict[str, Any]]) -> list[Flowable]:
    if not rows:
        return []

    def line(f: dict[str, Any]) -> list[Any]:
        tables = f.get("tables") or []
        read = "; ".join(f"{t.get('table') + ': ' if t.get('table') else ''}{t.get('rows')} {t.get('kind')} row(s), header at row {t.get('header_row')}" for t in tables)
        return [
            f.get("item"),
            Lines.of((f.get("file"), CELL), (f"member {f['member']}" if f.get("member") else None, CELL_NOTE)),
            f.get("read_as"),
            Lines.of((read or None, CELL), (f.get("note") or f.get("problem"), CELL_NOTE)),
        ]

    table = Table([Column("Item", 0.14), Column("File", 0.36), Column("Read as", 0.1), Column("Tables read", 0.4)], (line(f) for f in rows))
    return subheading("Files of the production") + [table]


def _where(at: Any) -> str | None:
    if not isinstance(at, dict):
        return None
    parts = [at.get("file")]
    if at.get("member"):
        parts.append(f"member {at['member']}")
    if at.get("sheet"):
        parts.append(f"sheet {at['sheet']}")
    if at.get("row") is not None:
        parts.append(f"row {at['row']}")
    return ", ".join(str(p) for p in parts if p) or None


def _warn_cell() -> TextStyle:
    return TextStyle("bold", CELL.size, CELL.leading, NOTE_BOX.colour)

