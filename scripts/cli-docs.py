#!/usr/bin/env python3
"""Write docs/cli.md from the CLI's own --help texts, so the reference cannot drift.

    python scripts/cli-docs.py            # rewrite docs/cli.md
    python scripts/cli-docs.py --check    # exit 1 if docs/cli.md is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from evidpack.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs/cli.md"


def walk(cmd: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    out = [(path, cmd)]
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.commands):
            out += walk(cmd.commands[name], path + [name])
    return out


def render() -> str:
    parts = [
        "# Command-line reference\n",
        "Generated from `evidpack --help` by `scripts/cli-docs.py`; do not edit by hand.\n",
        "Exit codes everywhere: 0 success (verify: intact and every signer trusted), "
        "1 integrity failure, 2 unusable input or usage error, 3 intact but a signer is not trusted.\n",
    ]
    for path, cmd in walk(main, ["evidpack"]):
        with click.Context(cmd, info_name=" ".join(path), terminal_width=100, max_content_width=100) as ctx:
            text = cmd.get_help(ctx)
        parts.append(f"\n## `{' '.join(path)}`\n\n```text\n{text}\n```\n")
    return "".join(parts)


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        if not DOC.exists() or DOC.read_text("utf-8") != text:
            print("docs/cli.md is out of date: run `python scripts/cli-docs.py`", file=sys.stderr)
            sys.exit(1)
        sys.exit(0)
    DOC.write_text(text, "utf-8")
    print(f"wrote {DOC}")
