"""``evidpack query`` and ``evidpack export``: read a bundle's catalogue, and
export the bundle as CASE/UCO JSON-LD. A thin layer: the work is in
:mod:`evidpack.catalogue` and :mod:`evidpack.caseuco`."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from .cli import echo_safe, json_safe, terminal_safe
from .errors import EvidpackError


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.argument("sql")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as a JSON array of objects (streamed: for results of any size).")
@click.option(
    "--timeout", type=click.FloatRange(min=0, min_open=True, max=86400), default=60, show_default=True, metavar="SECONDS",
    help="Stop a statement after this much work by SQLite (time spent printing does not count).",
)
@click.option(
    "--max-memory", type=click.IntRange(min=16, max=1 << 20), default=1024, show_default=True, metavar="MIB",
    help="Stop a statement that needs more memory in SQLite than this.",
)
@click.option(
    "--trust", "trust", multiple=True, type=click.Path(path_type=Path),
    help="A trusted public key file or a folder of them (as for evidpack verify); repeatable. "
    "A catalogue sealed by any other key is not queried.",
)
def query(bundle: Path, sql: str, as_json: bool, timeout: float, max_memory: int, trust: tuple[Path, ...]) -> None:
    """Run a read-only SQL query on BUNDLE's catalogue (a folder or a zip).

    The catalogue (evidpack/catalogue.sqlite) is opened read-only and never
    changed. Its tables: case, sources, source_checks, items (with full-text
    search in items_fts), custody, and any importer tables. `custody` shows
    every event in custody.jsonl, including those added since the seal
    (after_seal = 1); `main.custody` is the copy sealed into the catalogue.
    See docs/catalogue.md.

    Before querying, the tag manifest's Ed25519 signature is checked against
    evidpack/signer.pem and the catalogue against its line: this checks that the
    seal is intact. Who sealed it is checked with --trust (as evidpack verify
    --trust does): a catalogue sealed by another key is not queried (exit 3).
    Without --trust, one line on standard error names the sealing key (name,
    role and fingerprint, as signer.pem claims them) and says it was not
    checked. No payload file is hashed.

    The catalogue may have been made by anyone who can sign a tag manifest, so
    every statement is bounded: --timeout, --max-memory, values of at most
    64 MiB, and the table (not --json) of at most 100000 rows; going past a
    bound is one line on standard error. Text is printed with control, bidi
    and escape characters shown as escapes (\\x1b, \\u202e), in --json too.

    \b
    Exit codes: 0 done; 1 the tag manifest's signature does not verify, or the
                catalogue differs from it (or changed while it was queried);
                2 bad SQL, a statement that would write, a limit reached, not
                a bundle, or a tag file too large or inflating like a zip
                bomb; 3 intact, but sealed by a key not among the --trust
                keys; 130 interrupted (Ctrl-C).

    \b
    Examples:
      evidpack query bundles/NC-2026-0142 "SELECT id, path, size FROM items ORDER BY size DESC LIMIT 5"
      evidpack query bundles/NC-2026-0142 "SELECT count(*) FROM items" --trust keys/trusted/
      evidpack query bundles/NC-2026-0142 "SELECT * FROM items WHERE sha256 = 'df16c8…'" --json
      evidpack query bundles/NC-2026-0142 "SELECT seq, at, action, actor_name FROM custody"
      evidpack query bundles/NC-2026-0142 "SELECT id, path FROM items WHERE rowid IN
          (SELECT rowid FROM items_fts WHERE items_fts MATCH 'MicroMsg')"
    """
    from .catalogue import open_catalogue
    from .cli import warn
    from .keys import load_trusted

    trusted = load_trusted(list(trust)) if trust else None
    with open_catalogue(bundle, timeout=timeout, max_memory=max_memory << 20, trusted=trusted) as catalogue:
        columns, rows = catalogue.query(sql)
        if as_json:
            _print_json(bundle, columns, rows)
        else:
            _print_table(bundle, columns, rows)
        signer = catalogue.signer
    if trusted is None and signer is not None:
        # (after the result, so that a query that fails still says one line: its error)
        warn(
            f"sealed by {signer.name or '(name not recorded)'} ({signer.role or 'role not recorded'}) {signer.fingerprint}, "
            "as evidpack/signer.pem claims; not checked against trusted keys (give --trust KEYFILE_OR_FOLDER)"
        )


def _cell(value: Any) -> Any:
    """Blobs are shown as hex; everything else as SQLite returned it."""
    return value.hex() if isinstance(value, bytes) else value


def _json_value(value: Any) -> str:
    """One cell as JSON text: an infinite REAL (``SELECT 1e999``) as ``1e999``,
    which is valid JSON and reads back as infinity (``Infinity`` is not JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "null" if math.isnan(value) else ("1e999" if value > 0 else "-1e999")
    return json.dumps(_cell(value), ensure_ascii=False)


def _print_json(bundle: Path, columns: list[str], rows: Iterator[tuple[Any, ...]]) -> None:
    """A JSON array, one row object per line, written as the rows arrive. Control
    characters in values are JSON escapes (``\\u001b``), never raw (see :func:`json_safe`).
    Nothing is printed until the first row (or the end) is there, so a statement
    refused at once leaves standard output empty."""
    seen: set[str] = set()
    for c in columns:
        if c in seen:
            raise EvidpackError(
                f"{bundle}: the query gives two columns named {c!r}, which one JSON object cannot hold; name them apart with AS"
            )
        seen.add(c)
    keys = [json_safe(json.dumps(c, ensure_ascii=False)) for c in columns]
    started = False
    for row in rows:
        fields = ", ".join(f"{k}: {json_safe(_json_value(v))}" for k, v in zip(keys, row))
        click.echo(("," if started else "[") + "\n {" + fields + "}", nl=False)
        started = True
    click.echo(("" if started else "[") + "\n]")


def _table_cell(value: Any) -> Any:
    """A cell of the text table: text (item names are evidence file names, chosen by
    whoever made the evidence) made :func:`terminal_safe`, so that an ESC never reaches
    the terminal and a newline never splits a row; numbers and NULL as they are."""
    value = _cell(value)
    return terminal_safe(value) if isinstance(value, str) else value


# The text table is laid out once every row is in (column widths), so it is held
# in memory: at most this many rows or characters of cells. --json streams instead.
MAX_TABLE_ROWS = 100_000
MAX_TABLE_CHARS = 64 << 20


def _print_table(bundle: Path, columns: list[str], rows: Iterator[tuple[Any, ...]]) -> None:
    from tabulate import tabulate

    shown: list[list[Any]] = []
    chars = 0
    for row in rows:
        cells = [_table_cell(v) for v in row]
        chars += sum(len(c) if isinstance(c, str) else 24 for c in cells)
        shown.append(cells)
        if len(shown) > MAX_TABLE_ROWS or chars > MAX_TABLE_CHARS:
            raise EvidpackError(
                f"{bundle}: the result is too large to lay out as a table (more than {MAX_TABLE_ROWS} rows or "
                f"{MAX_TABLE_CHARS >> 20} Mi characters); add LIMIT, or use --json, which streams"
            )
    headers = [terminal_safe(c) for c in columns]
    echo_safe(tabulate(shown, headers=headers, tablefmt="simple", disable_numparse=True, missingval="NULL"))
    echo_safe(f"({len(shown)} row{'' if len(shown) == 1 else 's'})")


@click.group()
def export() -> None:
    """Export a bundle in another format."""


@export.command("case")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The JSON-LD file to write, outside the bundle; an existing file is never overwritten ('-' for standard output).")
@click.option("--base", default=None, metavar="IRI", help="Namespace for the graph's node IRIs (prefix kb:); default urn:example:evidpack:.")
def export_case(bundle: Path, out: Path, base: str | None) -> None:
    """Write BUNDLE as CASE 1.5 / UCO JSON-LD (validates with case_validate).

    The case becomes an Investigation; every item and member record an
    ObservableObject (file name, size, SHA-256 and MD5) with a
    ProvenanceRecord naming its exhibit number; every custody event,
    including those added since the seal, an InvestigativeAction with its
    performer, time, objects and result. Node IRIs are derived from the case, the seal and the exhibit
    numbers, so exporting the same bundle again gives the same file. The seal and
    tag files are checked first (a bundle that fails is refused); payload files
    are not re-hashed: run `evidpack verify` for that.

    \b
    Example:
      evidpack export case bundles/NC-2026-0142 --out NC-2026-0142.jsonld
      case_validate NC-2026-0142.jsonld
    """
    from .caseuco import DEFAULT_BASE, export_case as do_export

    summary = do_export(bundle, out, base=base or DEFAULT_BASE)
    if str(out) != "-":
        echo_safe(
            f"wrote {terminal_safe(out)}: CASE 1.5 JSON-LD, {summary.items} item(s), {summary.events} custody event(s), {summary.nodes} nodes"
        )
