"""The grid file schema: YAML (safe loader) -> GridFile, a frozen description of a sweep.

A grid states what varies and what is fixed; trainers/presets.py fills in every other setting.
The schema (see grids/README.md for a walk-through):

    name: table1                 # MLflow experiment (default: the file's stem)
    description: free text
    fixed: {setting: value}      # shared by every trial
    axes: {setting: [values]}    # cartesian product
    seeds: [1993, 1994]          # a seeds axis, crossed with everything
    include:                     # extra sub-grids: each entry replaces the axes it names
      - {optimizer: zo-sgd, q: [2, 4]}
    when:                        # conditional settings, applied in order to matching trials
      - match: {optimizer: [fo-sgd, fo-adam]}
        set: {epochs: 20}
        resources: {gpu: 1}
    exclude:                     # trials matching any entry are dropped (before validation)
      - {optimizer: [zo-sgd-conserve, zo-adam-conserve], q: [2, 4]}
    resources: {cpu: 1, gpu: auto, memory_gb: null, gpu_memory_gb: 80, trials_per_gpu: 8}
    search: {space: {lr: {loguniform: [1.0e-5, 1.0e-1]}}, samples: 12}   # orchestrator/grid/search.py

Every structural error raises GridError with one line: file, key path, what is allowed. The YAML
itself is read strictly (orchestrator/grid/yamlload.py: no duplicate keys, bounded alias expansion,
`1e-3` is a float, every YAML error names its line). Setting values must be scalars; they are
checked later, in orchestrator/grid/expand.py, once per distinct value. Quoted values are shortened.
"""

from __future__ import annotations

import math
import stat
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

from catalog.config import config_keys
from orchestrator.grid.errors import GridError, raise_all, unknown
from orchestrator.grid.search import DEFAULT_SEEDS, SearchBlock, parse_search
from orchestrator.grid.yamlload import YamlError, clip, load_yaml, shorten

GRID_KEYS = ("name", "description", "fixed", "axes", "seeds", "include", "when", "exclude", "resources", "search")
RULE_KEYS = ("match", "set", "resources")
TRIAL_RESOURCE_KEYS = ("cpu", "gpu", "memory_gb")
GRID_RESOURCE_KEYS = TRIAL_RESOURCE_KEYS + ("gpu_memory_gb", "trials_per_gpu")
SCALARS = (str, int, float, bool, type(None))
MAX_GRID_BYTES = 16 * 2**20  # full.yaml is a few kB
MAX_NAME_BYTES = 128  # an experiment name in UTF-8


@dataclass(frozen=True)
class ResourceRequest:
    """Resources a grid asks for; None leaves the value to orchestrator/grid/resources.py."""

    cpu: float | None = None
    gpu: float | None = None  # None: derived from the expected peak memory ("auto")
    memory_gb: float | None = None  # expected peak GPU memory of one trial, overriding the estimate
    gpu_memory_gb: float | None = None  # memory of one GPU of the cluster
    trials_per_gpu: int | None = None  # most trials that may share one GPU

    def merged(self, other: "ResourceRequest") -> "ResourceRequest":
        """`other`'s stated values over this one's."""
        values = {key: getattr(other, key) for key in GRID_RESOURCE_KEYS if getattr(other, key) is not None}
        return ResourceRequest(**{**{k: getattr(self, k) for k in GRID_RESOURCE_KEYS}, **values})


Match = Mapping[str, tuple[Any, ...]]


@dataclass(frozen=True)
class Rule:
    """A `when` entry: trials whose settings match get `settings` and `resources`."""

    match: Match
    settings: Mapping[str, Any]
    resources: ResourceRequest
    location: str


@dataclass(frozen=True)
class GridFile:
    path: str
    name: str
    description: str
    fixed: Mapping[str, Any]
    axes: Mapping[str, tuple[Any, ...]]
    seeds: tuple[Any, ...] | None
    include: tuple[Mapping[str, tuple[Any, ...]], ...]
    when: tuple[Rule, ...]
    exclude: tuple[Match, ...]
    resources: ResourceRequest = field(default_factory=ResourceRequest)
    search: SearchBlock | None = None


def _grid_text(path: Path) -> str:
    """The file's text; a folder, a device, a FIFO or a file past MAX_GRID_BYTES is refused before it is opened."""
    mode = path.stat().st_mode
    if stat.S_ISDIR(mode):
        raise GridError(str(path), "file", "is a folder; give the path of a grid file (.yaml)")
    if not stat.S_ISREG(mode):  # /dev/zero never ends, a FIFO blocks until someone writes
        raise GridError(str(path), "file", "is not a regular file; give the path of a grid file (.yaml)")
    if path.stat().st_size > MAX_GRID_BYTES:
        raise GridError(str(path), "file", f"is larger than {MAX_GRID_BYTES // 2**20} MiB; a grid is a short text file")
    return path.read_text()


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        # A grid is data: the strict loader is a safe loader, it never constructs Python objects.
        data = load_yaml(_grid_text(path))
    except IsADirectoryError as error:
        raise GridError(str(path), "file", "is a folder; give the path of a grid file (.yaml)") from error
    except OSError as error:
        raise GridError(str(path), "file", f"cannot be read ({error.strerror})") from error
    except YamlError as error:
        raise GridError(str(path), "file", f"is not valid YAML ({error})") from error
    except UnicodeDecodeError as error:
        raise GridError(str(path), "file", "is not UTF-8 text") from error
    if not isinstance(data, dict):
        raise GridError(str(path), "file", f"must be a mapping with keys {', '.join(GRID_KEYS)}")
    return data


def check_name(path: str, key: str, name: Any) -> str:
    """An experiment name that stays inside the storage folder: no path separators, no '..'."""
    if not isinstance(name, str) or not name.strip():
        raise GridError(path, key, f"must be a non-empty string, got {shorten(name)}")
    if "/" in name or "\\" in name or name.strip(".") == "" or not name.isprintable():
        raise GridError(path, key, f"{shorten(name)} is not allowed: a name is printable text without '/' or '\\' "
                                   "and not '.' or '..' (it names folders under the storage path)")
    if len(name.encode()) > MAX_NAME_BYTES:  # a folder name may have 255 bytes; Ray and MLflow add to it
        raise GridError(path, key, f"{shorten(name)} is {len(name.encode())} bytes long; a name has at most "
                                   f"{MAX_NAME_BYTES} bytes (it names folders under the storage path)")
    return name


class _Reader:
    """Checks one grid file's structure; every error names the file and the key path."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.keys = config_keys()
        self.errors: list[GridError] = []  # every error found so far; parse_grid raises them together

    def fail(self, key: str, message: str) -> GridError:
        return GridError(self.path, key, message)

    def keep(self, build: Callable[[], Any], default: Any = None) -> Any:
        """build(), or `default` with its GridError kept for the report of every error."""
        try:
            return build()
        except GridError as error:
            self.errors.append(error)
            return default

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, "must be a mapping")
        return value

    def entries(self, value: Any, key: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(key, "must be a list")
        return value

    def known(self, values: Mapping[str, Any], key: str) -> dict[str, Any]:
        """The entries whose names are settings; each other name is kept as an error."""
        for name in values:
            if name not in self.keys:
                self.errors.append(self.fail(f"{key}.{clip(name)}", unknown("setting", name, self.keys)))
        return {name: value for name, value in values.items() if name in self.keys}

    def scalar(self, value: Any, key: str) -> Any:
        if not isinstance(value, SCALARS):
            raise self.fail(key, f"must be a single value (text, number, true/false or null), got {shorten(value)}")
        return value

    def settings(self, value: Any, key: str) -> dict[str, Any]:
        values = self.known(self.mapping(value, key), key)
        checked = {name: self.keep(lambda: (True, self.scalar(item, f"{key}.{name}")), (False, None))
                   for name, item in values.items()}
        return {name: item for name, (ok, item) in checked.items() if ok}

    def value_lists(self, value: Any, key: str, *, scalars: bool) -> dict[str, tuple[Any, ...]]:
        """setting -> non-empty tuple of values; a scalar stands for a one-value list if allowed."""
        out: dict[str, tuple[Any, ...]] = {}
        for name, values in self.known(self.mapping(value, key), key).items():
            if scalars and not isinstance(values, list):
                values = [values]
            if not isinstance(values, list) or not values:
                self.errors.append(self.fail(f"{key}.{name}", "must be a non-empty list of values"))
                continue
            items = self.keep(lambda: tuple(self.scalar(item, f"{key}.{name}") for item in values))
            if items is not None:
                out[name] = items
        return out

    def resources(self, value: Any, key: str, allowed: tuple[str, ...]) -> ResourceRequest:
        values = self.mapping(value, key)
        parsed: dict[str, Any] = {}
        for name, item in values.items():
            if name not in allowed:
                self.errors.append(self.fail(f"{key}.{clip(name)}", unknown("resource", name, allowed)))
                continue
            if item is None or (name == "gpu" and item == "auto"):
                continue
            number = self.keep(lambda: self.resource_value(item, f"{key}.{name}", name))
            if number is not None:
                parsed[name] = number
        return ResourceRequest(**parsed)

    def resource_value(self, item: Any, key: str, name: str) -> float | int:
        # .nan passes every comparison below unnoticed and .inf breaks the packing arithmetic: refuse both.
        number = isinstance(item, (int, float)) and not isinstance(item, bool) and math.isfinite(item)
        if name == "trials_per_gpu":
            if not (isinstance(item, int) and not isinstance(item, bool) and item >= 1):
                raise self.fail(key, f"must be an integer >= 1, got {shorten(item)}")
            return item
        if name == "gpu":
            if not number or item < 0 or (item > 1 and not float(item).is_integer()):
                raise self.fail(key, f"must be 'auto', a fraction in [0, 1] or a whole number of GPUs, got {shorten(item)}")
            return float(item)
        if name == "cpu" and (not number or item <= 0):
            raise self.fail(key, f"must be a finite number > 0, got {shorten(item)}")
        if not number or item <= 0:
            raise self.fail(key, f"must be a finite number > 0 (GB), got {shorten(item)}")
        return float(item)

    def nonempty(self, value: Any, key: str, meaning: str) -> Match:
        entry = self.value_lists(value, key, scalars=True)
        if not entry:
            raise self.fail(key, f"must name at least one setting ({meaning})")
        return MappingProxyType(entry)

    def rule(self, value: Any, key: str) -> Rule:
        entry = self.mapping(value, key)
        for name in entry:
            if name not in RULE_KEYS:
                self.errors.append(self.fail(f"{key}.{clip(name)}", unknown("rule key", name, RULE_KEYS)))
        if "match" not in entry:
            raise self.fail(f"{key}.match", "is required: the settings a trial must have for the rule to apply")
        match = self.value_lists(entry["match"], f"{key}.match", scalars=True)
        settings = self.settings(entry.get("set"), f"{key}.set")
        resources = self.resources(entry.get("resources"), f"{key}.resources", TRIAL_RESOURCE_KEYS)
        return Rule(MappingProxyType(match), MappingProxyType(settings), resources, key)


def parse_grid(path: Path, errors: list[GridError] | None = None) -> GridFile:
    """Read and structurally check a grid file (values are checked on expansion); every error at once.

    With `errors`, the structural errors are appended there and the parts without errors returned,
    so that the caller can add the value errors to the same report.
    """
    data = read_yaml(path)
    reader = _Reader(str(path))
    for key in data:
        if key not in GRID_KEYS:
            reader.errors.append(reader.fail(clip(key), unknown("grid key", key, GRID_KEYS)))
    name = reader.keep(lambda: check_name(str(path), "name", data.get("name", path.stem)), path.stem)
    description = data.get("description") or ""
    if not isinstance(description, str):
        reader.errors.append(reader.fail("description", "must be a string"))
    fixed = reader.keep(lambda: reader.settings(data.get("fixed"), "fixed"), {})
    axes = reader.keep(lambda: reader.value_lists(data.get("axes"), "axes", scalars=False), {})
    seeds = reader.keep(lambda: _seeds(reader, data, axes)) if "seeds" in data else None

    def each(key: str, read: Callable[[Any, str], Any]) -> tuple[Any, ...]:
        entries = reader.keep(lambda: reader.entries(data.get(key), key), [])
        read_entries = [reader.keep(lambda: (read(entry, f"{key}[{i}]"),)) for i, entry in enumerate(entries)]
        return tuple(entry[0] for entry in read_entries if entry is not None)

    include = each("include", lambda entry, key: reader.nonempty(entry, key, "the entry replaces the axes it names"))
    when = each("when", reader.rule)
    exclude = each("exclude", lambda entry, key: reader.nonempty(entry, key, "trials with all of these values are dropped"))
    resources = reader.keep(lambda: reader.resources(data.get("resources"), "resources", GRID_RESOURCE_KEYS),
                            ResourceRequest())
    search = reader.keep(lambda: parse_search(str(path), data["search"])) if "search" in data else None
    if search is not None and seeds is None and "seed" not in axes and "seed" not in fixed:
        seeds = DEFAULT_SEEDS  # each cell's best reruns on three seeds unless the grid names its own
    if errors is None:
        raise_all(reader.errors)
    else:
        errors += reader.errors
    return GridFile(path=str(path), name=name, description=description, fixed=MappingProxyType(fixed),
                    axes=MappingProxyType(axes), seeds=seeds, include=include, when=when, exclude=exclude,
                    resources=resources, search=search)


def _seeds(reader: _Reader, data: dict[str, Any], axes: Mapping[str, Any]) -> tuple[Any, ...]:
    if "seed" in axes or "seed" in reader.mapping(data.get("fixed"), "fixed"):
        raise reader.fail("seeds", "give the seeds either here or as the setting 'seed', not both")
    if not isinstance(data["seeds"], list) or not data["seeds"]:
        raise reader.fail("seeds", "must be a non-empty list of integer seeds")
    return tuple(reader.scalar(seed, "seeds") for seed in data["seeds"])
