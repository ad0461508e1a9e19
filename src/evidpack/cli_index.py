"""``evidpack index``: render a reading copy of a bundle's PDF index. A thin
layer: the work is in :mod:`evidpack.report`."""

from __future__ import annotations

from pathlib import Path

import click

from .cli import echo_safe, new_file, refuse_existing, refuse_inside_bundle, results_output, terminal_safe


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The PDF to write (outside any bundle; must not exist).")
@click.option("--time", "time_", metavar="TIME", help="Rendering time printed in the copy (RFC 3339 or epoch seconds); default $SOURCE_DATE_EPOCH, else now.")
def index(bundle: Path, out: Path, time_: str | None) -> None:
    """Render a reading copy of BUNDLE's PDF index (a folder or a zip).

    The copy is the sealed index re-rendered from the bundle's records, with
    every custody event in the log, including those recorded after the seal
    (transfers, receipts, verifications). It says on every page that it is a
    reading copy; the sealed evidpack/index.pdf is never touched, and nothing
    is written inside the bundle.

    \b
    Example:
      evidpack index bundles/NC-2026-0142 --out NC-2026-0142-index.pdf
    """
    from .bundle import Bundle
    from .report import write_index
    from .timeutil import build_time

    refuse_inside_bundle(out, Path(bundle), "write the reading copy elsewhere")  # (and inside any other bundle)
    refuse_existing(out, "a file")
    when = build_time(time_)
    with Bundle.open(bundle) as b, new_file(out) as fh:
        write_index(b, fh, rendered_at=when)  # page by page: memory does not grow with the case
        size = fh.tell()
    with results_output():
        echo_safe(f"wrote {terminal_safe(out)}: a reading copy of the index of {terminal_safe(bundle)} ({size:,} bytes), not the sealed evidpack/index.pdf")
