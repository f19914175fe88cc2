"""The published numbers of ZeroFlow (arXiv 2501.01045): ``zfsweep report --compare paper`` pairs
them with zfsweep's cells, and the dry-run's cost model scales Table 2's epoch times.

Transcribed from the paper (arXiv 2501.01045 v3's Tables 1-4, Table 2's memory and runtime,
and the combined-enhancement results), kept as plain data so a comparison is a join and a
transcription error is a one-line fix. All accuracies are percent; memory GB; runtime seconds.
"""

from __future__ import annotations

from catalog.names import PAPER_DATASETS

# Datasets of the column groups, in the paper's order.
DATASETS: tuple[str, ...] = PAPER_DATASETS

# Table 1 (q = 1): (method, optimizer) -> Avg, Last, Fgt for each dataset in DATASETS order.
TABLE1_ROWS: dict[tuple[str, str], tuple[float, ...]] = {
    ("ease", "fo-sgd"): (91.23, 85.96, 7.32, 89.31, 83.76, 9.61, 61.24, 51.02, 10.84, 74.73, 67.40, 15.11),
    ("ease", "zo-sgd"): (78.62, 68.40, 15.64, 88.94, 82.91, 8.08, 57.87, 48.32, 11.08, 73.50, 66.60, 17.78),
    ("ease", "zo-sgd-sign"): (83.21, 75.88, 10.58, 89.81, 84.61, 8.10, 59.15, 49.31, 11.77, 73.81, 66.75, 17.21),
    ("ease", "zo-sgd-conserve"): (82.22, 75.88, 8.93, 89.21, 83.42, 10.31, 58.61, 48.58, 12.41, 77.07, 70.73, 14.87),
    ("ease", "fo-adam"): (90.56, 84.82, 7.69, 84.44, 77.10, 10.51, 59.60, 47.20, 19.08, 74.27, 66.28, 15.63),
    ("ease", "zo-adam"): (83.36, 76.09, 10.16, 89.49, 84.14, 8.67, 58.90, 48.72, 12.35, 76.15, 69.69, 15.87),
    ("ease", "zo-adam-sign"): (83.14, 76.01, 10.44, 89.82, 84.65, 8.21, 58.97, 48.85, 12.20, 77.12, 71.08, 14.68),
    ("ease", "zo-adam-conserve"): (82.15, 75.65, 9.24, 89.82, 84.61, 8.40, 59.23, 48.85, 12.81, 77.19, 70.99, 14.68),
    ("ease", "forward-grad"): (82.26, 76.05, 8.74, 89.26, 83.67, 9.35, 57.76, 48.19, 11.03, 77.00, 70.74, 14.99),
    ("aper", "fo-sgd"): (82.31, 76.21, 7.33, 90.56, 85.16, 5.19, 59.50, 49.37, 9.91, 78.61, 72.21, 7.87),
    ("aper", "zo-sgd"): (82.33, 76.21, 7.36, 90.53, 85.20, 5.12, 59.58, 49.51, 10.02, 78.60, 72.21, 7.85),
    ("aper", "zo-sgd-sign"): (82.32, 76.23, 7.32, 90.42, 85.28, 4.96, 59.65, 49.77, 9.89, 78.60, 72.26, 7.78),
    ("aper", "zo-sgd-conserve"): (82.31, 76.21, 7.33, 90.62, 85.28, 5.05, 59.68, 49.70, 10.18, 78.61, 72.21, 7.87),
    ("aper", "fo-adam"): (82.31, 76.21, 7.33, 90.56, 85.16, 5.19, 59.60, 49.77, 10.06, 76.60, 72.21, 7.85),
    ("aper", "zo-adam"): (82.12, 75.45, 7.47, 90.33, 84.31, 6.01, 58.89, 49.24, 9.32, 78.44, 72.10, 7.87),
    ("aper", "zo-adam-sign"): (82.01, 75.60, 7.38, 89.86, 84.18, 5.99, 57.82, 48.12, 9.72, 78.26, 72.05, 7.75),
    ("aper", "zo-adam-conserve"): (82.21, 75.98, 7.34, 89.96, 84.48, 5.90, 57.86, 47.53, 10.00, 78.61, 72.21, 7.87),
    ("aper", "forward-grad"): (82.32, 76.22, 7.32, 89.47, 83.38, 6.24, 58.25, 47.99, 9.62, 77.61, 71.45, 7.87),
}
ACCURACY_METRICS: tuple[str, ...] = ("avg_acc", "last_acc", "forgetting")

# Table 2 (EASE): (optimizer, q) -> peak memory (GB), then per-epoch runtime (s) per dataset.
# The paper gives ZO-SGD-Sign's runtime "as q = 1"; those values are repeated here.
TABLE2: dict[tuple[str, int], tuple[float, tuple[float, ...]]] = {
    ("fo-sgd", 1): (12.08, (59.3, 16.1, 12.2, 109.6)),
    ("zo-sgd", 1): (2.41, (32.4, 8.3, 6.8, 66.8)),
    ("zo-sgd", 4): (2.41, (111.7, 28.7, 18.0, 221.3)),
    ("zo-sgd-sign", 1): (2.41, (32.4, 8.3, 6.8, 66.8)),
    ("zo-sgd-conserve", 1): (2.41, (70.1, 15.7, 12.4, 133.7)),
    ("forward-grad", 1): (3.94, (45.9, 11.1, 9.0, 82.0)),
}

# Tables 3 and 4 (EASE, ZO-SGD, ImageNet-A): ratio -> (Avg, Last, Fgt).
ENHANCEMENT_DATASET = "imagenet-a"
TABLE3: dict[float, tuple[float, float, float]] = {
    0.0: (57.87, 48.32, 11.08),
    0.2: (58.90, 49.04, 11.79),
    0.4: (58.76, 48.84, 11.78),
    0.6: (58.34, 48.42, 11.60),
    0.8: (57.83, 48.10, 11.57),
}
TABLE4: dict[float, tuple[float, float, float]] = {
    0.0: (57.87, 48.32, 11.08),
    0.1: (59.17, 48.58, 12.65),
    0.2: (59.46, 49.05, 12.17),
    0.3: (59.29, 48.72, 12.76),
    0.4: (59.39, 48.91, 12.53),
    0.5: (59.45, 49.24, 12.37),
    0.6: (59.26, 49.11, 12.36),
    0.7: (59.39, 49.05, 12.54),
    0.8: (59.38, 49.11, 12.46),
    0.9: (59.47, 49.24, 12.33),
}

# Combined enhancements (EASE, ImageNet-A): setting -> (Avg, Last).
COMBINED: dict[str, tuple[float, float]] = {
    "FO-SGD": (61.24, 51.02),
    "ZO-SGD": (57.87, 48.32),
    "ZO-SGD +hybrid": (61.40, 51.34),
    "ZO-SGD +historical": (58.90, 49.04),
    "ZO-SGD +hybrid +historical +sparsity": (62.07, 51.94),
}


def table1() -> dict[tuple[str, str, str, str], float]:
    """Table 1 keyed (method, optimizer, dataset, metric), as tables.table1_cells keys ours."""
    out: dict[tuple[str, str, str, str], float] = {}
    for (method, optimizer), values in TABLE1_ROWS.items():
        for d, dataset in enumerate(DATASETS):
            for m, metric in enumerate(ACCURACY_METRICS):
                out[(method, optimizer, dataset, metric)] = values[3 * d + m]
    return out


# The untrained reference (issue 23): prototype-only SimpleCIL, the frozen ViT-B/16-IN21K with
# class-mean cosine classifiers, as the RevisitingCIL authors' logs report it (zhoudw-zdw/RevisitingCIL,
# seed 1993): dataset -> (Avg, Last). Nothing trains, so Last does not depend on the task split.
# Not in ZeroFlow; zfsweep sets it beside Table 1 (docs/fidelity.md, "The untrained reference").
UNTRAINED: dict[str, tuple[float, float]] = {
    "cifar100": (87.57, 81.28),
    "cub": (92.24, 86.77),
    "imagenet-a": (60.64, 48.85),
    "omnibenchmark": (79.34, 73.15),
}
UNTRAINED_SOURCE = "prototype-only SimpleCIL, ViT-B/16-IN21K (RevisitingCIL logs, seed 1993)"
