"""``evidpack disclose``, ``evidpack proof`` and ``evidpack verify-item``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .cli import (PASS_ENV, PASSWORD_ENV, _passphrase_option, _print_report, echo_safe, new_file, password_option, read_secret,
                  refuse_existing, refuse_inside_bundle, results_output, terminal_safe, warn)
from .errors import EvidpackError

if TYPE_CHECKING:
    from .disclose import Plan


def _human(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--include", multiple=True, metavar="SPEC",
              help="What to disclose; repeatable: an exhibit id (E0001, E0001/M000017), E0001/* (its members), "
                   "a source (S02 or 'S02/*'), tag:NAME, or a glob on the path ('*.pdf', 'data/S01-*/notes/*').")
@click.option("--exclude", multiple=True, metavar="SPEC", help="Leave out what matches (same forms); exclusions always win.")
@click.option("--include-tag", multiple=True, metavar="TAG", help="Disclose items with this tag.")
@click.option("--exclude-tag", multiple=True, metavar="TAG", help="Leave out items with this tag (e.g. privileged).")
@click.option("--redact", multiple=True, metavar="EXHIBIT=PATH",
              help="Disclose PATH, a redacted derivative made from sealed EXHIBIT, instead of the original.")
@click.option("--reason", multiple=True, help="Why each --redact was redacted: one for all, or one per --redact in order.")
@click.option("--to", "recipient", default="", help='Who receives the package, e.g. "Defence counsel for J. Doe".')
@click.option("--note", default="", help="Free text recorded in the disclosure and its custody event.")
@click.option("--withhold-event", multiple=True, type=int, metavar="SEQ",
              help="Also carry this custody event only as its line hash (repeatable).")
@click.option("--key", "key_file", type=click.Path(path_type=Path), help="The discloser's private key: signs disclosure.json and the 'disclosed' event.")
@_passphrase_option
@password_option
@click.option("--plain", is_flag=True, help="Write an unencrypted zip (otherwise a password is required).")
@click.option("--out", type=click.Path(path_type=Path), help="The package to write (NAME.zip; must not exist).")
@click.option("--dry-run", is_flag=True, help="Show what would be disclosed; write nothing and record nothing.")
def disclose(bundle: Path, include: tuple[str, ...], exclude: tuple[str, ...], include_tag: tuple[str, ...],
             exclude_tag: tuple[str, ...], redact: tuple[str, ...], reason: tuple[str, ...], recipient: str, note: str,
             withhold_event: tuple[int, ...], key_file: Path | None, passphrase_file: Path | None,
             password_file: Path | None, plain: bool, out: Path | None, dry_run: bool) -> None:
    """Make a disclosure package from BUNDLE: the selected evidence, each item's
    sealed record and Merkle proof, the master seal, the custody log up to a new
    'disclosed' event, a signed disclosure.json and a PDF schedule.

    Nothing about undisclosed items goes in. The recipient checks the package
    with `evidpack verify PACKAGE.zip --trust KEYS/`.

    \b
    Example:
      evidpack disclose bundles/NC-2026-0142 --key keys/jroe.key \\
          --include 'S02/*' --include E0001/M000017 --exclude-tag privileged \\
          --redact E0042=redacted/E0042-redacted.pdf --reason "victim address redacted" \\
          --password-file disclosure.pw --out out/NC-2026-0142-disclosure-01.zip
    """
    from . import disclose as d

    if not dry_run and (key_file is None or out is None):
        raise EvidpackError("disclose needs --key and --out (or --dry-run to only show the selection)")
    if plain and password_file is not None:
        raise EvidpackError("--plain and --password-file contradict each other")
    if out is not None:
        refuse_inside_bundle(out, bundle, "write the package elsewhere")  # (and inside any other bundle)
        if not dry_run:
            refuse_existing(out, "a package")
    p = d.plan(
        bundle, include=include, exclude=exclude, include_tags=include_tag, exclude_tags=exclude_tag,
        redact=d.parse_redactions(redact, reason), recipient=recipient, note=note, withhold_events=withhold_event,
    )
    for w in p.warnings:
        warn(w)
    _print_plan(p, bundle)
    log = d.preview_custody(p)
    withheld = [x.seq for x in log if x.withheld]
    echo_safe(f"custody: {len(log)} event(s) so far" + (f"; {len(withheld)} carried as their hash only (seq {', '.join(map(str, withheld))})" if withheld else "; all in full"))
    if dry_run:
        echo_safe("dry run: nothing written, no custody event recorded")
        return
    assert key_file is not None and out is not None
    from .keys import load_signing_key

    refuse_existing(out, "a package")  # (again: the plan took time; d.write never replaces either)
    password = None if plain else read_secret(password_file, PASSWORD_ENV, "password", confirm=True)
    key = load_signing_key(key_file, read_secret(passphrase_file, PASS_ENV, "passphrase"))
    done = d.write(p, key, out, password)
    t = terminal_safe
    with results_output():  # the package is written and the event recorded
        echo_safe(f"wrote {t(done.path)} ({'AES-256 encrypted' if done.encrypted else 'NOT encrypted'}, {_human(done.path.stat().st_size)})")
        echo_safe(f"  disclosure:    sha256 {done.disclosure_sha256} (signed by {t(key.public.describe())})")
        echo_safe(f"  custody:       event {done.custody_seq} 'disclosed' recorded in {t(bundle)}")
        echo_safe(f"  custody head:  {done.custody_head}  (receipt: keep it)")


def _print_plan(p: "Plan", bundle: Path) -> None:
    """The selection, one line per item. Names, notes and exhibit ids come from the
    bundle (evidence file names are anyone's): each is shown :func:`terminal_safe`."""
    from .disclose import display_name

    t = terminal_safe
    m = p.master
    echo_safe(f"disclosure from {t(bundle)} (case {t(m.case.get('id'))}; Merkle root {t(m.root[:16])}…)")
    width = max(len(t(e.id)) for e in p.entries)
    for e in p.entries:
        rec = e.item.record
        name = t(display_name(rec))
        if e.redaction is not None:
            what = f"REDACTED {name} -> {t(e.redaction.path)} ({t(e.redaction.reason)})"
        elif e.file is None:
            what = f"{name} — {t(e.note)}"
        else:
            what = name + (f"  (member of {t(rec.get('container'))})" if rec.get("kind") == "member" else "")
        echo_safe(f"  {t(e.id):<{width}}  {_human(e.size):>10}  {what}")
    for x in p.excluded:
        echo_safe(f"  excluded: {t(x)}")
    echo_safe(
        f"total: {len(p.entries)} item(s), {p.files} file(s)"
        + (f", {len(p.redactions)} redacted derivative(s)" if p.redactions else "")
        + f", {_human(p.bytes)}" + (f" ({p.bytes} bytes)" if p.bytes >= 1024 else "")
    )


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.argument("exhibit")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="The proof file to write (must not exist).")
def proof(bundle: Path, exhibit: str, out: Path) -> None:
    """Write a self-contained proof that EXHIBIT is sealed in BUNDLE: its record,
    Merkle inclusion proof, and the signed tag manifest and seal.

    \b
    Example:
      evidpack proof bundles/NC-2026-0142 E0001/M000017 --out EnMicroMsg.db.proof.json
      evidpack verify-item EnMicroMsg.db --proof EnMicroMsg.db.proof.json --trust keys/trusted/
    """
    from .proof import make_proof, proof_bytes, record_notes

    refuse_inside_bundle(out, bundle, "write the proof elsewhere")  # (and inside any other bundle)
    refuse_existing(out, "a file")
    data, master, item = make_proof(bundle, exhibit)
    with new_file(out) as fh:  # whole or not at all, never over a file that appeared meanwhile
        fh.write(proof_bytes(data))
    rec = item.record
    t = terminal_safe
    with results_output():  # the proof is written
        echo_safe(f"wrote {t(out)} ({len(proof_bytes(data))} bytes)")
        echo_safe(f"  exhibit:       {t(item.id)} {t(rec.get('path') or rec.get('member_path') or rec.get('original_path') or '')}")
        echo_safe(f"  sha256:        {t(rec.get('sha256', '(none recorded)'))}")
        echo_safe(f"  leaf:          {item.index} of {len(master.leaves)}; Merkle root {t(master.root)}")
        echo_safe(f"  sealed by:     {t(master.signer.describe())}")
        # what the sealed record says about these bytes (cut short, a bad CRC-32...): the proof carries it, say it
        for n, note in enumerate(record_notes(rec)):
            echo_safe(f"  {'record says:' if n == 0 else '':<15}{t(note)}")


@click.command("verify-item")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--proof", "proof_file", required=True, type=click.Path(path_type=Path), help="The .proof.json made by `evidpack proof`.")
@click.option("--trust", "trust", multiple=True, type=click.Path(path_type=Path),
              help="A trusted public key file or a folder of them; repeatable. Nothing is trusted without it.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify_item(file: Path, proof_file: Path, trust: tuple[Path, ...], as_json: bool) -> None:
    """Check FILE against a single-item proof: bytes -> record -> Merkle root ->
    seal.json -> signed tag manifest -> trusted signer.

    \b
    Exit codes: 0 verified and signer trusted; 1 integrity failure;
                2 unusable input; 3 intact but signer not trusted.
    """
    from .keys import load_trusted
    from .proof import verify_item as check

    report = check(file, proof_file, load_trusted(list(trust)))
    with results_output():  # the verdict is reached: a closed pipe cuts the report short, not the verdict
        _print_report(report, as_json=as_json)
    sys.exit(report.exit_code)
