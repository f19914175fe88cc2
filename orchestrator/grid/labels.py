"""Trial labels: what tells one trial of a grid from the others, the distinguishing part first.

A label names a trial wherever a person reads it: the progress line, the dry-run plan, error
lines, and as the trial's MLflow run name, of which the runs table shows only the first ~22
characters. So a label is built from the settings that vary across the grid's trials, not from
a fixed list: method/optimizer/dataset where they vary (all three when nothing else would name
the trial), then every other setting that varies among trials of one method/optimizer/dataset,
as key=value, seed last. A setting the grid lists as an axis (or its seeds) is always named; one
that varies only through `include` or `when` (the untrained reference's `epochs: 0`, a q or a
ratio added for one optimizer) is named only where it differs from its usual value (the grid's
`fixed:` value, else the default or preset), so "zo-sgd" and "zo-sgd q=4" read as they should.

Two trials of a grid never share a label: they differ in some varying setting; if it is one of
method/optimizer/dataset both labels name it, otherwise the usual value depends only on those
three, so at least one of the two labels names the setting, with a different value than the other.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Callable, Collection, Sequence

from catalog.config import TrialConfig

NAME_FIRST = ("method", "optimizer", "dataset")
NAME_LAST = ("seed",)


def varying_keys(configs: Sequence[TrialConfig], ignored: Collection[str] = ()) -> list[str]:
    """Settings (those in `ignored` aside) that take more than one value across the configs, in field order."""
    keys = [f.name for f in fields(TrialConfig) if f.name not in ignored]
    return [key for key in keys if len({getattr(c, key) for c in configs}) > 1]


def naming_keys(configs: Sequence[TrialConfig], ignored: Collection[str] = (),
                varying: Sequence[str] | None = None) -> list[str]:
    """Varying settings (`varying`, if already known) that method/optimizer/dataset do not already fix
    (through the presets), seed last.

    In a grid of optimizers each optimizer brings its own preset lr; naming it would only repeat
    the optimizer. A setting that varies among trials of one method/optimizer/dataset is named.
    """
    varying = [key for key in (varying_keys(configs, ignored) if varying is None else varying) if key not in NAME_FIRST]
    groups: dict[tuple[str, ...], list[TrialConfig]] = {}
    for config in configs:
        groups.setdefault(tuple(getattr(config, key) for key in NAME_FIRST), []).append(config)
    named = [key for key in varying
             if any(len({getattr(c, key) for c in group}) > 1 for group in groups.values())]
    return [key for key in named if key not in NAME_LAST] + [key for key in named if key in NAME_LAST]


def trial_labels(configs: Sequence[TrialConfig], always: Collection[str],
                 usual: Callable[[TrialConfig, str], Any], ignored: Collection[str] = ()) -> list[str]:
    """One label per config (module docstring): `always` the settings named on every trial (the grid's
    axes and seeds), `usual(config, key)` the value a setting named only where it differs has."""
    varying = varying_keys(configs, ignored)
    head = [key for key in varying if key in NAME_FIRST]
    extra = naming_keys(configs, ignored, varying)
    labels = []
    for config in configs:
        words = [f"{key}={getattr(config, key)}" for key in extra
                 if key in always or getattr(config, key) != usual(config, key)]
        path = "/".join(str(getattr(config, key)) for key in (head if head or words else NAME_FIRST))
        labels.append(" ".join([path, *words]) if path else " ".join(words))
    return labels
