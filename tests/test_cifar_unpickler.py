"""CIFAR pickles are read with an unpickler that admits only what the format holds."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from trainers.data import DataError, check_available
from trainers.data import inspect
from test_data import write_cifar


class Payload:
    """A pickle that runs a shell command when it is loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return os.system, (f"touch {self.marker}",)


def test_a_reduce_payload_is_refused_and_never_runs(tmp_path: Path) -> None:
    base = write_cifar(tmp_path)
    marker = tmp_path / "pwned"
    labels = [k for k in range(4) for _ in range(3)]
    (base / "train").write_bytes(pickle.dumps({b"data": np.zeros((12, 3072), np.uint8), b"fine_labels": labels,
                                               b"x": Payload(marker)}))
    with pytest.raises(DataError) as raised:
        check_available("cifar100", str(tmp_path))
    assert "global 'posix.system' is not allowed in a CIFAR pickle" in str(raised.value)
    assert str(base / "train") in str(raised.value) and "\n" not in str(raised.value)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_numpy_pickles_of_every_protocol_load(tmp_path: Path, protocol: int) -> None:
    base = write_cifar(tmp_path)
    labels = [k for k in range(4) for _ in range(3)]
    pixels = np.full((12, 3072), 7, np.uint8)
    (base / "train").write_bytes(pickle.dumps({b"data": pixels, b"fine_labels": labels}, protocol=protocol))
    assert inspect("cifar100", str(tmp_path)) == 4


def test_a_pickle_whose_lists_share_one_object_is_refused_before_it_expands(tmp_path: Path) -> None:
    # Pickle's memo writes the shared row once: a small file that np.asarray would expand to
    # 4,000 x 3,072 Python ints (the test stays small; a real attack repeats the row millions of times).
    from trainers.data.cifar import MAX_LIST_VALUES

    base = write_cifar(tmp_path)
    row = [0] * 3072
    rows = [row] * 4000
    (base / "train").write_bytes(pickle.dumps({b"data": rows, b"fine_labels": [0] * 4000}))
    assert (base / "train").stat().st_size < 50_000 and 4000 * 3072 > MAX_LIST_VALUES
    with pytest.raises(DataError) as raised:
        inspect("cifar100", str(tmp_path))
    message = str(raised.value)
    assert f"'{base / 'train'}'" in message and f"more than {MAX_LIST_VALUES:,} values" in message
    assert "\n" not in message


def test_a_pickled_list_that_contains_itself_is_refused(tmp_path: Path) -> None:
    base = write_cifar(tmp_path)
    loop: list = []
    loop.append(loop)
    (base / "train").write_bytes(pickle.dumps({b"data": loop, b"fine_labels": [0]}))
    with pytest.raises(DataError, match="contains itself"):
        inspect("cifar100", str(tmp_path))
