"""One root for bad input: a setting, a grid, a data set or weights that no retry can mend.

The command line catches InputError once and turns it into one line on stderr and exit code 2;
inside a trial it ends the trial at once as kind "invalid" instead of feeding Ray's retries.
Each error carries what it is about as attributes (`where`, `key`, `message`), so no caller parses
its text back out of a string.
"""

from __future__ import annotations

import difflib
from typing import Any, Sequence

class InputError(ValueError):
    """Bad input, shown as one line: `where: 'key': message` (each part only when known)."""

    def __init__(self, message: str, *, key: str = "", where: str = "") -> None:
        self.message = message
        self.key = key
        self.where = where
        super().__init__(self.line())

    def line(self) -> str:
        parts = [self.where] if self.where else []
        if self.key:
            parts.append(f"'{self.key}'")
        return ": ".join([*parts, self.message])


def one_line(error: BaseException, limit: int | None = None) -> str:
    """An exception as one line, `Type: message` with the message's whitespace folded (and cut at
    `limit` characters), to quote inside another message."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message[:limit] if limit else message}"


def last_line(text: str) -> str | None:
    """The last non-blank line of a traceback (or of Ray's text around one): the exception and its message."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else None


def did_you_mean(name: Any, allowed: Sequence[str]) -> str:
    """' did you mean 'X'?' for the allowed name closest to a mistyped one, else ''."""
    close = difflib.get_close_matches(str(name), list(allowed), n=1, cutoff=0.75)
    return f" did you mean '{close[0]}'?" if close else ""


class ConfigError(InputError):
    """A trial setting is unknown or out of range; `key` names the offending setting."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message, key=key)
