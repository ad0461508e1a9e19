"""Kind ``files``: loose files copied one by one. The checks say it all; any
facts (e.g. empty folders, which BagIt cannot hold) are listed."""

from __future__ import annotations

from reportlab.platypus import Flowable

from ..flowables import Column, Table
from ..styles import CELL_PATH
from .common import SourceView, facts_table, subheading


def render(view: SourceView) -> list[Flowable]:
    facts = dict(view.facts)
    empty = facts.pop("empty_folders", None)
    out: list[Flowable] = []
    if facts:
        out += [*subheading("Facts"), *facts_table(facts)]
    if empty:
        table = Table([Column("Folder (in the source)", 1.0, CELL_PATH)], ([str(folder)] for folder in empty))
        out += [*subheading(f"Empty folders ({len(empty)}), listed here because a BagIt payload cannot hold them"), table]
    return out
