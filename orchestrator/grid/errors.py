"""The error of a bad grid file: one line each (file, key, what is allowed), every one found at once.

A user who fixes one typo per run learns of the next only on the next run; the grid reader
therefore collects every error of a file (orchestrator/grid/schema.py, orchestrator/grid/expand.py) and a
mistyped name comes with the closest allowed one.
"""

from __future__ import annotations

from typing import Any

from catalog.errors import InputError, did_you_mean

MESSAGE_CHARS = 500  # a GridError never quotes more than this
SHOWN_ERRORS = 20  # a file of thousands of mistakes is reported by its first ones and a count


class GridError(InputError):
    """Bad grid input; the message is one line: file, key, what is allowed."""

    def __init__(self, path: str, key: str, message: str) -> None:
        if len(message) > MESSAGE_CHARS:
            message = message[: MESSAGE_CHARS - 3] + "..."
        super().__init__(message, key=key, where=path)


class GridErrors(GridError):
    """Every error found in one grid file, one line each, in the order of the file's sections."""

    def __init__(self, errors: list[GridError]) -> None:
        lines = [str(error) for error in errors[:SHOWN_ERRORS]]
        if len(errors) > SHOWN_ERRORS:
            lines.append(f"{errors[0].where}: and {len(errors) - SHOWN_ERRORS} more errors")
        InputError.__init__(self, "\n".join(lines))
        self.errors = errors


def raise_all(errors: list[GridError]) -> None:
    """Raise the one error, or all of them together; nothing if there are none."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise GridErrors(errors)


def unknown(what: str, name: Any, allowed: tuple[str, ...]) -> str:
    return f"unknown {what};{did_you_mean(name, allowed)} allowed: {', '.join(allowed)}"
