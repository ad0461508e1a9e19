"""Any kind without a renderer of its own: its facts as recorded."""

from __future__ import annotations

from reportlab.platypus import Flowable

from .common import SourceView, facts_table, subheading


def render(view: SourceView) -> list[Flowable]:
    if not view.facts:
        return []
    return [*subheading("Facts recorded by the importer"), *facts_table(view.facts)]
