"""Why a stage stops: one line an operator can act on (the CLI prints it, exit code 1)."""

from __future__ import annotations


class StageError(Exception):
    """The stage cannot go on safely; the message says why, in one line."""


class TransactionsUnsupportedError(StageError):
    """The broker cannot do transactions: exactly-once is refused, never faked."""
