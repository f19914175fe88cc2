"""Where a data set lives under `data_root`: `<data_root>/<folder>/` or `data_root` itself.

The paper's data sets cannot be downloaded by zfsweep, so the user lays them out by hand; every
failure to find them is one DataError line naming the path, what is wrong and the layout wanted,
raised before any trial starts (`zfsweep run` calls `check_available` first).
"""

from __future__ import annotations

from pathlib import Path

from trainers.data.core import DataError

SPLITS = ("train", "test")


def locate(dataset: str, data_root: str, folder: str, expected: str) -> Path:
    """The folder that holds `train` and `test`: `<data_root>/<folder>`, else `data_root` itself.

    Accepting `data_root` itself lets a user with one data set point straight at its folder.
    """
    root = Path(data_root)
    nested = root / folder
    if nested.is_dir():
        return nested
    if any((root / split).exists() for split in SPLITS):
        return root
    if not root.is_dir():
        problem = "is not a folder" if root.exists() else "does not exist"
        raise DataError(f"{dataset}: data root '{root}' {problem}; expected {expected}")
    raise DataError(f"{dataset}: no '{folder}' folder (nor train/ and test/) in '{root}'; expected {expected}")


def split_path(dataset: str, base: Path, split: str, expected: str, *, folder: bool) -> Path:
    """`base/split`, which must be a folder (image trees) or a file (CIFAR pickles)."""
    path = base / split
    kind_ok = path.is_dir() if folder else path.is_file()
    if not kind_ok:
        what = "folder" if folder else "file"
        problem = f"'{path}' is not a {what}" if path.exists() else f"missing '{path}'"
        raise DataError(f"{dataset}: {problem}; expected {expected}")
    return path
