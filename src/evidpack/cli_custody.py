"""``evidpack custody``: add events to a sealed bundle's custody log, and show it."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import click

from .cli import PASS_ENV, _passphrase_option, echo_safe, json_safe, read_secret, results_output, terminal_safe
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
    for k, v in out.items():  # (an argument that is not UTF-8 arrives with lone surrogates)
        for what, text in (("name", k), ("value", v)):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise EvidpackError(f"detail {k!r}: its {what} is not valid UTF-8 text; give it as UTF-8") from None
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
    if action == "repaired":
        raise EvidpackError("--action repaired: written only by `evidpack custody repair`")
    details = _details(to, from_, note, detail)
    key = load_signing_key(key_file, read_secret(passphrase_file, PASS_ENV, "passphrase"))
    done = c.append(bundle, action, key, details)
    with results_output():  # the event is recorded: a closed pipe cuts this short, not the outcome
        echo_safe(f"event {done.seq}: {terminal_safe(action)} by {terminal_safe(key.public.name)} ({key.public.fingerprint})")
        echo_safe(f"head: {terminal_safe(done.head)}")


@custody.command("repair")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--key", "key_file", required=True, type=click.Path(path_type=Path), help="Your private key: the 'repaired' event is signed by, and names, you.")
@_passphrase_option
@click.option("--tail-to", "tail_to", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A new file, outside the bundle, to keep the torn bytes in (never overwritten).")
@click.option("--note", help="Free text: what happened (the crash, the power cut), ...")
def custody_repair(bundle: Path, key_file: Path, passphrase_file: Path | None, tail_to: Path, note: str | None) -> None:
    """Move an incomplete last line (a torn write) out of BUNDLE's custody log.

    An append killed mid-write (a crash, a power cut) can leave the log ending in
    part of a line; nothing can be added after it. This moves those bytes, and
    only those, into the new file --tail-to (outside the bundle) and appends in
    their place a signed 'repaired' event recording their offset, length and
    SHA-256 and the file's name: nothing is deleted unrecorded, the log verifies
    again, and `evidpack verify` names the repair. Every line before the torn one
    must be intact, and the seal is checked first, as for `custody add`.

    \b
    Example:
      evidpack custody repair bundles/NC-2026-0142 --key keys/jroe.key \\
          --tail-to NC-2026-0142-custody-torn.bin --note "power cut during custody add"
      sha256sum NC-2026-0142-custody-torn.bin   # any time later: the event's torn_sha256
    """
    from . import custody as c
    from .cli import refuse_inside_bundle
    from .keys import load_signing_key

    refuse_inside_bundle(tail_to, bundle, "keep the torn bytes outside the bundle")
    if note is not None:
        _details(None, None, note, ())  # (UTF-8 only, as for custody add)
    key = load_signing_key(key_file, read_secret(passphrase_file, PASS_ENV, "passphrase"))
    done = c.repair(bundle, key, tail_to, note=note)
    echo_safe(
        f"moved {done.torn_bytes} torn byte(s) (sha256 {done.torn_sha256}) from the end of the custody log "
        f"(offset {done.offset}) to {terminal_safe(tail_to)}"
    )
    with results_output():
        echo_safe(f"event {done.seq}: repaired by {terminal_safe(key.public.name)} ({key.public.fingerprint})")
        echo_safe(f"head: {terminal_safe(done.head)}")


@custody.command("show")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the events as a JSON array.")
def custody_show(bundle: Path, as_json: bool) -> None:
    """Show the custody log as a table (or --json), with the chain's state and head.

    Signatures are checked for integrity here; whose keys to trust is decided
    by `evidpack verify --trust`. Each event shows the key that signed it (a
    name is only what that key's holder claims); the bundle's sealing key is
    marked "sealer".
    """
    from .custody import CUSTODY_FILE, ChainChecker, as_object as _obj, iter_raw_lines, open_log, total

    checker = ChainChecker(keep_events=False)
    sealer = _sealer_fingerprint(bundle)
    first = True
    with open_log(bundle) as read:
        if not as_json:
            _row(COLUMNS)
        for raw in iter_raw_lines(read):
            unverified = total(checker.rep.unverified)
            event = checker.feed(raw)
            if event is None:
                if not as_json:
                    _row((str(raw.n), "?", "(unreadable)", "", "", f"line {raw.n} is not an event: see the chain's state below"))
                continue
            ok = total(checker.rep.unverified) == unverified
            actor = _obj(event.get("actor"))
            fp = actor.get("key") if ok else None
            if as_json:
                try:  # (strict JSON: NaN and Infinity, which the log may hold, are no JSON)
                    text = json.dumps(event, indent=2, ensure_ascii=False, allow_nan=False)
                except (RecursionError, ValueError):
                    # an event holding NaN or Infinity, or nested deeper than the encoder goes:
                    # named in its place (the chain check fails it), so the output stays JSON
                    text = json.dumps({"line": raw.n, "unprintable": "holds NaN or Infinity, or is nested too deeply to print "
                                       f"as JSON; see line {raw.n} of {CUSTODY_FILE}"}, indent=2)
                click.echo(("[\n" if first else ",\n") + json_safe(textwrap.indent(text, "  ")), nl=False)
            else:
                # (the name is the key holder's own claim: the key says who signed; the sealer's is marked)
                key = "(signature not verified)" if not (ok and isinstance(fp, str)) else _short_key(fp) + (" sealer" if fp == sealer else "")
                _row((_brief(event.get("seq")), _brief(event.get("at")), _brief(event.get("action")),
                      f"{_brief(actor.get('name', '?'))} ({_brief(actor.get('role', '?'))})", key, _summary(event)))
            first = False
    if as_json:
        click.echo("[]" if first else "\n]")
    chain = checker.done()
    state = "intact" if not chain.problems else f"BROKEN: {chain.problems[0]}"
    if total(chain.problems) > 1:
        state += f" (and {total(chain.problems) - 1} more problem(s); `evidpack verify` lists them)"
    echo_safe(f"chain: {chain.count} events, {terminal_safe(state)}", err=as_json)
    echo_safe(f"head: {terminal_safe(chain.head)}", err=as_json)
    if chain.future:
        more = f" (and {total(chain.future) - 1} more)" if total(chain.future) > 1 else ""
        echo_safe(f"warning: {terminal_safe(chain.future[0])}{more}", err=True)
    if chain.problems:
        raise SystemExit(1)


# The table's columns and their widths: fixed, so the log is printed as it is read (memory
# stays flat however long it is); a longer value is cut with "…" (custody show --json, or
# the log itself, has it whole).
COLUMNS = (("seq", 6), ("recorded (UTC)", 27), ("action", 15), ("by (as claimed)", 40), ("signed by key", 30), ("details", 90))


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _row(cells: Any) -> None:
    """One table row: every cell made :func:`terminal_safe` (event text is anyone's: a
    newline in a note must not split a row, an ESC must not reach the terminal), then cut
    to its column's width."""
    texts = [c[0] if isinstance(c, tuple) else c for c in cells]
    out = []
    for i, (text, (_, width)) in enumerate(zip(texts, COLUMNS)):
        if i == len(COLUMNS) - 1:  # (the last runs on: it is cut before its escapes are written)
            out.append(terminal_safe(_clip(text, width)))
        else:
            out.append(_clip(terminal_safe(_clip(text, width)), width).ljust(width))
    echo_safe("  ".join(out).rstrip())


def _short_key(fp: str) -> str:
    return _clip(fp, 23)


def _sealer_fingerprint(bundle: Path) -> str | None:
    from .bundle import Bundle
    from .keys import parse_public_key

    try:
        with Bundle.open(bundle) as b:
            return parse_public_key(b.read("evidpack/signer.pem") or b"", "evidpack/signer.pem").fingerprint
    except Exception:  # noqa: BLE001 (a damaged signer.pem: nothing to mark; verify names it)
        return None


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
    parts: list[str] = []
    size = 0
    for k, v in d.items():  # (a hostile event may hold a million details: stop once the column is full)
        if isinstance(v, (dict, list)):
            continue
        if size > 90:
            break
        parts.append(f"{_brief(k)}={_brief(v)}")
        size += len(parts[-1]) + 2
    text = ", ".join(parts)
    return text if len(text) <= 90 else text[:89] + "…"


def _brief(value: Any) -> str:
    """A value from a possibly hostile event as text, at most a few hundred characters
    (it may be megabytes): never an exception (deep nesting, NaN)."""
    if isinstance(value, str):
        return value if len(value) <= 400 else value[:399] + "…"
    if isinstance(value, (dict, list)) and len(value) > 100:
        return f"<{type(value).__name__} of {len(value)}>"
    try:
        return json.dumps(value, ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        return f"<{type(value).__name__}>"


