"""The documentation says what the code does."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_cli_reference_is_generated_from_the_current_help() -> None:
    r = subprocess.run([sys.executable, str(REPO / "scripts/cli-docs.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_readme_opens_with_the_two_setup_commands() -> None:
    text = (REPO / "README.md").read_text()
    first_block = text.split("```", 2)[1]
    assert "make demo" in first_block and "make test" in first_block


def test_every_command_has_help_with_an_example_or_description() -> None:
    from evidpack.cli import main
    import click

    def walk(cmd, name):
        yield name, cmd
        if isinstance(cmd, click.Group):
            for sub, c in cmd.commands.items():
                yield from walk(c, f"{name} {sub}")

    for name, cmd in walk(main, "evidpack"):
        assert cmd.help and len(cmd.help.strip()) > 20, f"{name} has no real help text"
