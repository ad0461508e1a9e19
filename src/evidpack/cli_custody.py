"""``evidpack custody``: add events to a sealed bundle's custody log, and show it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .cli import PASS_ENV, _passphrase_option, echo_safe, json_safe, read_secret, terminal_safe
from .errors import EvidpackError


@click.group()
def custody() -> None:
    """The custody log: signed, hash-chained, append-only.

    \b
    Every command that adds an event prints the new head hash: keep it as a
    receipt; `evidpack verify --expect-head HASH` later proves the log still
    reaches it (a hash chain alone cannot show that its tail was cut).
    """


def _details(to: str | None, from_: str | None, note: str | None, detail: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in detail:
        if "=" not in item:
            raise EvidpackError(f"--detail {item!r}: expected KEY=VALUE")
        k, v = item.split("=", 1)
        if not k.strip():
            raise EvidpackError(f"--detail {item!r}: empty key")
        out[k.strip()] = v
    for k, v in (("to", to), ("from", from_), ("note", note)):
        if v is not None:
            out[k] = v
    return out


@custody.command("add")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--action", required=True, help="transferred, received, accessed, redacted, disclosed, note, ... (see docs/custody.md).")
@click.option("--key", "key_file", required=True, type=click.Path(path_type=Path), help="Your private key: the event is signed by, and names, you.")
@_passphrase_option
@click.option("--to", help="Who the evidence went to (transferred).")
@click.option("--from", "from_", help="Who the evidence came from (received).")
@click.option("--note", help="Free text: envelope number, purpose, ...")
@click.option("--detail", multiple=True, metavar="KEY=VALUE", help="Any further detail; repeatable.")
def custody_add(bundle: Path, action: str, key_file: Path, passphrase_file: Path | None, to: str | None,
                from_: str | None, note: str | None, detail: tuple[str, ...]) -> None:
    """Append a signed event to BUNDLE's custody log (the seal is not touched).

    \b
    Examples:
      evidpack custody add bundles/NC-2026-0142 --action transferred \\
          --to "ADA M. Park, Wake County DA" --key keys/jroe.key --note "sealed envelope #4471"
      evidpack custody add bundles/NC-2026-0142 --action received --key keys/mpark.key
    """
    from . import custody as c
    from .keys import load_signing_key

    if action in ("created", "acquired", "imported", "source-verified", "sealed"):
        raise EvidpackError(f"--action {action}: written only by `evidpack build`")
    details = _details(to, from_, note, detail)
    key = load_signing_key(key_file, read_secret(passphrase_file, PASS_ENV, "passphrase"))
    done = c.append(bundle, action, key, details)
    echo_safe(f"event {done.seq}: {terminal_safe(action)} by {terminal_safe(key.public.name)} ({key.public.fingerprint})")
    echo_safe(f"head: {terminal_safe(done.head)}")


@custody.command("show")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the events as a JSON array.")
def custody_show(bundle: Path, as_json: bool) -> None:
    """Show the custody log as a table (or --json), with the chain's state and head.

    Signatures are checked for integrity here; whose keys to trust is decided
    by `evidpack verify --trust`.
    """
    from .bundle import Bundle
    from .custody import CUSTODY_FILE, as_object as _obj, check_chain

    with Bundle.open(bundle) as b:
        data = b.read(CUSTODY_FILE)
    if data is None:
        raise EvidpackError(f"{bundle}: no {CUSTODY_FILE}")
    chain = check_chain(data)
    if as_json:
        try:
            click.echo(json_safe(json.dumps(chain.events, indent=2, ensure_ascii=False)))
        except (RecursionError, ValueError):  # an event nested deeper than the encoder goes
            echo_safe(f"{terminal_safe(bundle)}: {CUSTODY_FILE}: an event is nested too deeply to print as JSON", err=True)
            raise SystemExit(1) from None
    else:
        # (check_chain names every event whose actor, subject or details is not a JSON
        # object, or whose values are hostile: here each is shown, shortened, as it is,
        # every control character escaped by _table)
        rows = [
            (_brief(e.get("seq")), _brief(e.get("at")), _brief(e.get("action")),
             f"{_brief(_obj(e.get('actor')).get('name', '?'))} ({_brief(_obj(e.get('actor')).get('role', '?'))})",
             _summary(e))
            for e in chain.events
        ]
        _table(("seq", "at (UTC)", "action", "by", "details"), rows)
    state = "intact" if not chain.problems else f"BROKEN: {chain.problems[0]}"
    echo_safe(f"chain: {len(chain.events)} events, {terminal_safe(state)}", err=as_json)
    echo_safe(f"head: {terminal_safe(chain.head)}", err=as_json)
    if chain.problems:
        raise SystemExit(1)


def _summary(event: dict[str, Any]) -> str:
    from . import custody as custody_module
    from .custody import as_object as _obj

    details = event.get("details")
    d = dict(_obj(details))
    subject = _obj(event.get("subject"))
    if "source" in subject:
        d = {"source": subject["source"], **d}
    if event.get("action") == "sealed":
        d = {"tagmanifest": _brief(subject.get("tagmanifest_sha256", ""))[:16] + "…", **d}
    if details is not None and not isinstance(details, dict):
        d = {"details": _brief(details), **d}  # shown as it is: the chain check names it
    # What evidpack itself checked before the event (a long, fixed sentence) goes last:
    # the column is cut at 90 characters, and the person's own details come first.
    checked = getattr(custody_module, "CHECKED_KEY", "checked")
    if isinstance(details, dict) and checked in d:
        d = {**{k: v for k, v in d.items() if k != checked}, checked: d[checked]}
    text = ", ".join(f"{k}={_brief(v)}" for k, v in d.items() if not isinstance(v, (dict, list)))
    return text if len(text) <= 90 else text[:89] + "…"


def _brief(value: Any) -> str:
    """A value from a possibly hostile event as text: never an exception (deep nesting, NaN)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        return f"<{type(value).__name__}>"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Columns padded to width; every cell is made :func:`terminal_safe` first (event text
    is anyone's: a newline in a note must not split a row, an ESC must not reach the terminal)."""
    header = tuple(terminal_safe(h) for h in header)
    rows = [tuple(terminal_safe(v) for v in r) for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    widths[-1] = len(header[-1])  # the last column runs on
    echo_safe("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    for r in rows:
        echo_safe("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
