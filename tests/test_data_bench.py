"""`python -m bench data` on tiny generated data: both paths are timed, on the same images, with their ratio."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import data


def test_both_input_paths_are_timed_on_generated_cifar_and_folders(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZFSWEEP_CACHE_DIR", str(tmp_path / "cache"))
    data.write_cifar(tmp_path / "data", train=96, test=48, classes=4)
    data.write_folders(tmp_path / "data", per_class=3, classes=2)
    for dataset in ("cifar100", "cub"):
        assert data.cache_seconds(dataset, tmp_path / "data") > 0
        for train in (True, False):
            rates = data.compare(dataset, tmp_path / "data", data.torch.device("cpu"), rounds=1, train=train)
            assert rates["per_image"] > 0 and rates["device"] > 0
            assert rates["ratio"] == pytest.approx(rates["device"] / rates["per_image"])
        crops = data.crop_milliseconds(dataset, tmp_path / "data", rounds=1)
        assert crops["uint8_ms"] > 0 and crops["dense_ms"] > 0
