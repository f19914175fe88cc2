"""How a knob is declared: its rule (allowed values or range), whether optimizers take it, and
which key a hybrid trial's first-order phase reads instead.

A knob is a field of TrialConfig (catalog/config.py) declared with `knob(...)`: the field gives
its name, type and default, the metadata its Rule. Everything that checks or describes a knob
reads that one declaration: TrialConfig's validation, the optimizer Settings (trainers/optim),
the grid schema's messages and the report's column types.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from catalog.errors import did_you_mean

_TYPES: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool}


def is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Rule:
    """What values a knob allows. `choices` or a range (`low`/`high`, each closed unless `*_open`)."""

    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False
    boolean: bool = False
    ratio: bool = False  # say "a ratio" rather than "a number"
    note: str = ""  # words after the range, e.g. "(steps)"
    optimizer: bool = False  # passed to an optimizer whose defaults name it
    neutral: Any = None  # what optimizer Settings hold for a strategy that ignores the knob
    fo_key: str = ""  # the key a hybrid trial's first-order phase reads instead
    # Left out of the config hash (and the run's params) while unset or at its neutral value: a knob
    # added after runs were logged, whose neutral value computes what those runs computed.
    unhashed_neutral: bool = False

    def allows(self, value: Any) -> bool:
        if self.boolean:
            return isinstance(value, bool)
        if self.choices:
            return value in self.choices
        if not (is_integer(value) if self.integer else is_real(value)):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    @property
    def allowed(self) -> str:
        """The allowed values in words: 'a ratio in [0, 1)', 'an integer >= 1', 'exact, released'."""
        if self.boolean:
            return "true or false"
        if self.choices:
            return ", ".join(self.choices)
        noun = "an integer" if self.integer else "a ratio" if self.ratio else "a number"
        if self.low is not None and self.high is not None:
            span = f"{'(' if self.low_open else '['}{_num(self.low)}, {_num(self.high)}{')' if self.high_open else ']'}"
            text = f"{noun} in {span}"
        elif self.low is not None:
            text = f"{noun} {'>' if self.low_open else '>='} {_num(self.low)}"
        elif self.high is not None:
            text = f"{noun} {'<' if self.high_open else '<='} {_num(self.high)}"
        else:
            text = noun
        return f"{text} {self.note}" if self.note else text

    @property
    def checked(self) -> bool:
        return bool(self.boolean or self.choices or self.integer or self.low is not None or self.high is not None)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def knob(default: Any, **rule: Any) -> Any:
    """A TrialConfig field with its Rule (see Rule for the keywords)."""
    return dataclasses.field(default=default, metadata={"rule": Rule(**rule)})


@dataclass(frozen=True)
class Knob:
    """One config key: name, type, default (None: the preset fills it) and rule."""

    name: str
    kind: type
    nullable: bool
    default: Any
    rule: Rule

    @property
    def neutral(self) -> Any:
        return self.default if self.default is not None else self.rule.neutral

    def hashed(self, value: Any) -> bool:
        """Whether `value` enters the config hash (see Rule.unhashed_neutral)."""
        return not self.rule.unhashed_neutral or value not in (None, self.rule.neutral)

    def problem(self, value: Any) -> str | None:
        """What is wrong with `value` ('must be ..., got ...'), or None if this knob allows it."""
        if value is None or not self.rule.checked or self.rule.allows(value):
            return None
        if self.rule.choices:
            return f"unknown value '{value}';{did_you_mean(value, self.rule.choices)} allowed: {self.rule.allowed}"
        return f"must be {self.rule.allowed}, got {value!r}"


def knobs_of(cls: type) -> dict[str, Knob]:
    """The knobs of a dataclass declared with `knob(...)` fields, in field order."""
    out = {}
    for field in dataclasses.fields(cls):
        annotation = str(field.type)
        kind = _TYPES[annotation.split("|")[0].strip()]
        out[field.name] = Knob(field.name, kind, "None" in annotation, field.default,
                               field.metadata.get("rule", Rule()))
    return out
