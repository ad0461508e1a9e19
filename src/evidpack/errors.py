"""Errors a user can act on: one line that says what and where.

The CLI prints ``evidpack: error: <message>`` and exits with ``exit_code``;
no traceback is shown for any of these.
"""

from __future__ import annotations


class EvidpackError(Exception):
    """Bad input or usage: the message names the file (row, member) and the problem."""

    exit_code = 2


class IntegrityError(EvidpackError):
    """Evidence read back does not match what was recorded."""

    exit_code = 1
