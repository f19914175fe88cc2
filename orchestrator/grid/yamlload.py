"""Reading a grid file's YAML strictly: data only, one meaning per key, bounded size, line numbers.

PyYAML's safe loader lets a later duplicate key silently replace an earlier one (a different
sweep runs), expands aliases without limit (a "billion laughs" file of a few hundred bytes
becomes gigabytes), and, following YAML 1.1, reads `1e-3` as a string. This loader
- refuses duplicate mapping keys, naming both lines;
- composes the node graph first and measures its size with aliases expanded (memoised per node,
  so measuring costs the size of the file, not of the expansion), refusing anything past
  MAX_NODES before a single Python object is built;
- reads YAML 1.2 floats without a dot (`1e-3`, `5E4`) as floats.
Every error is a YamlError whose message starts with the 1-based line it concerns.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_NODES = 1_000_000  # far above any real grid (full.yaml: a few hundred nodes), far below a bomb
SHOWN_CHARS = 60

# YAML 1.2's float form that YAML 1.1 lacks: digits, optional fraction, an exponent, no dot needed.
_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")


class YamlError(ValueError):
    """A grid file is not the YAML zfsweep accepts; the message starts with 'line N: '."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


def shorten(value: Any, limit: int = SHOWN_CHARS) -> str:
    """repr(value), cut to `limit` characters: error messages quote values, never whole structures."""
    if isinstance(value, (list, tuple, dict)) and len(value) > limit:
        return f"<{type(value).__name__} of {len(value)} items>"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def clip(value: Any, limit: int = SHOWN_CHARS) -> str:
    """str(value) cut to `limit` characters (for keys, which are printed as they are)."""
    text = str(value) if not isinstance(value, (list, tuple, dict)) else shorten(value, limit)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class StrictLoader(yaml.SafeLoader):
    """SafeLoader without duplicate keys, with YAML 1.2 exponent floats."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise YamlError(line, f"duplicate key {shorten(key)} (first given on line {seen[key]}); "
                                          "each key may appear once per mapping")
            except TypeError:  # an unhashable key: SafeLoader reports it below
                continue
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789."))


def expanded_size(root: Node, limit: int = MAX_NODES) -> int:
    """Number of nodes once every alias is expanded (stops counting past `limit`).

    YamlError if a node contains itself (`&a [*a]`): its expansion would never end.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # on the current path from the root: reaching one again is a cycle
    # Iterative post-order walk: each node is sized once.
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if children_done or not children:
            sizes[id(node)] = min(limit + 1, 1 + sum(sizes[id(child)] for child in children))
            open_nodes.discard(id(node))
            continue
        if id(node) in open_nodes:
            raise YamlError(node.start_mark.line + 1, "an alias refers to itself (a list or mapping that "
                                                      "contains itself never ends); write the grid out")
        open_nodes.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)
    return sizes[id(root)]


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def load_yaml(text: str) -> Any:
    """The data of one YAML document, read strictly (see module docstring)."""
    loader = StrictLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except RecursionError as error:
            raise YamlError(1, "is nested too deeply") from error
        if root is None:
            return None
        size = expanded_size(root)
        if size > MAX_NODES:
            raise YamlError(root.start_mark.line + 1, f"expands to more than {MAX_NODES:,} values "
                                                      "(aliases repeat their anchor's content); write the grid out")
        return loader.construct_document(root)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = " ".join(str(error.problem or error.context or "invalid YAML").split())
        raise YamlError(line, problem) from error
    except yaml.YAMLError as error:
        raise YamlError(1, " ".join(str(error).split())[:200]) from error
    finally:
        loader.dispose()


__all__ = ["MAX_NODES", "clip", "StrictLoader", "YamlError", "load_yaml", "shorten"]
