"""The glyphs data set: disjoint deterministic pools, fonts kept apart, a race-free cache, the split."""

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from catalog.config import ConfigError, make_config
from trainers.data import build_benchmark
from trainers.data.glyphfonts import TEST_FONTS, TRAIN_FONTS, Augmentation, render
from trainers.data.glyphs import (CIL_CLASSES, CIL_TEST, CIL_TRAIN, NEAR_LETTER, PRINT_CONTRAST, PRINT_GROUND,
                                  SAME_GLYPH, build_pools, cached_arrays, degrade, fonts_of, render_split,
                                  similarity)


def test_pools_are_disjoint_large_enough_and_deterministic() -> None:
    pools = build_pools()
    assert len(pools.cil) == CIL_CLASSES >= 100 and len(pools.pretrain) >= 200
    assert not set(pools.cil) & set(pools.pretrain)
    assert len(set(pools.cil)) == len(pools.cil) and len(set(pools.pretrain)) == len(pools.pretrain)
    build_pools.cache_clear()
    assert build_pools() == pools


def test_no_two_classes_look_alike_and_no_cil_class_looks_like_a_letter() -> None:
    pools = build_pools()
    chars = list(pools.pretrain + pools.cil)
    same = similarity(chars)
    np.fill_diagonal(same, 0.0)
    assert same.max() < SAME_GLYPH
    assert same[len(pools.pretrain):, :len(pools.pretrain)].max() < NEAR_LETTER
    # The check that removed them: Latin A and Greek Alpha render the same.
    assert similarity(["A", "\u0391"])[0, 1] >= SAME_GLYPH


def test_every_class_has_training_and_test_fonts_and_they_never_meet() -> None:
    assert not set(TRAIN_FONTS) & set(TEST_FONTS)
    for char in build_pools().cil:
        assert len(fonts_of(char, TRAIN_FONTS)) >= 2 and fonts_of(char, TEST_FONTS)


def test_rendering_is_deterministic_given_the_seed() -> None:
    chars = build_pools().cil[:3]
    first = render_split(chars, TRAIN_FONTS, 4, seed=7)
    assert first.shape == (3, 4, 32, 32) and first.dtype == np.uint8
    assert np.array_equal(first, render_split(chars, TRAIN_FONTS, 4, seed=7))
    assert not np.array_equal(first, render_split(chars, TRAIN_FONTS, 4, seed=8))
    plain = render("A", "DejaVuSans", Augmentation())
    assert plain.max() == 255 and plain[0].max() == 0  # white on black, inside the frame


def test_cil_images_are_degraded_prints_deterministic_given_the_seed() -> None:
    clean = render_split(build_pools().cil[:4], TRAIN_FONTS, 6, seed=3)
    printed = degrade(clean, seed=5)
    assert printed.dtype == np.uint8 and np.array_equal(printed, degrade(clean, seed=5))
    assert not np.array_equal(printed, degrade(clean, seed=6))
    ground, ink = printed[clean == 0], printed[clean == 255]
    # Grey ground, half-contrast ink, and noise that blurs the two together.
    assert abs(ground.mean() - PRINT_GROUND) < 3 and abs(ink.mean() - (PRINT_GROUND + PRINT_CONTRAST * 255)) < 3
    assert ground.std() > 15 and ink.mean() - ground.mean() < 0.6 * 255


def test_cache_is_built_once_even_when_builders_race(tmp_path: Path) -> None:
    calls: list[int] = []

    def build() -> dict[str, np.ndarray]:
        calls.append(1)
        time.sleep(0.2)
        return {"x": np.arange(5)}

    target = tmp_path / "glyphs" / "cil-test.npz"
    results: list[dict[str, np.ndarray]] = []
    threads = [threading.Thread(target=lambda: results.append(cached_arrays(target, build))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and all(np.array_equal(r["x"], np.arange(5)) for r in results)
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary file left
    built = len(calls)
    assert np.array_equal(cached_arrays(target, build)["x"], np.arange(5))
    assert len(calls) == built  # once the file exists it is read, not rebuilt


def test_benchmark_has_ten_tasks_of_ten_symbols_with_disjoint_train_and_test_images(tmp_path: Path) -> None:
    benchmark = build_benchmark("glyphs", str(tmp_path), seed=1993, tasks=10, image_size=32)
    assert benchmark.num_classes == 100 and benchmark.classes_per_task == 10
    assert len(benchmark.train) == 100 * CIL_TRAIN and len(benchmark.test) == 100 * CIL_TEST
    image, label = benchmark.test[0]
    assert image.shape == (3, 32, 32) and 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert 0 <= label < 100
    assert len(list((tmp_path / "glyphs").glob("*.npz"))) == 1


def test_epochs_zero_is_a_setting_and_negative_epochs_are_not() -> None:
    assert make_config({"epochs": 0, "dataset": "glyphs"}).epochs == 0
    with pytest.raises(ConfigError, match="'epochs': must be an integer >= 0"):
        make_config({"epochs": -1})


def test_an_unwritable_data_root_is_one_clear_error(tmp_path: Path) -> None:
    from trainers.data import DataError, check_available

    check_available("glyphs", str(tmp_path / "new" / "folder"))  # creatable: fine
    (tmp_path / "file").write_text("")
    with pytest.raises(DataError, match="glyphs: cannot write the rendered images under"):
        check_available("glyphs", str(tmp_path / "file"))


def test_demo_and_mini_grids_run_on_glyphs_with_the_untrained_reference() -> None:
    from orchestrator.grid.expand import load_grid

    grids = Path(__file__).resolve().parents[1] / "grids"
    smoke = load_grid(grids / "smoke.yaml")
    assert len(smoke.trials) == 20 and {(t.config.dataset, t.config.tasks) for t in smoke.trials} == {("glyphs", 5)}
    assert {t.config.method for t in smoke.trials if t.config.epochs == 0} == {"ease", "aper"}
    mini = load_grid(grids / "mini.yaml")
    assert len(mini.trials) == 39 and {t.config.seed for t in mini.trials} == {1993, 1994, 1995}
    assert sum(t.config.epochs == 0 for t in mini.trials) == 3
    assert {t.config.q for t in mini.trials if t.config.optimizer == "zo-sgd"} == {1, 2, 4, 8}
