"""Class-incremental metrics of ZeroFlow (arXiv 2501.01045): Avg, Last and forgetting, in percent.

After task t, a_t is the top-1 accuracy over the test images of every class seen so far.
Avg = mean_t a_t, Last = a_T. acc[j][k] is the accuracy on task j's classes after task k (k >= j);
Fgt = mean over tasks j < T of (max_{j <= k <= T} acc[j][k] - acc[j][T]).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class IncrementalMetrics:
    avg_acc: float
    last_acc: float
    forgetting: float


def forgetting(task_matrix: Sequence[Sequence[float]]) -> float:
    """Mean forgetting; task_matrix[k][j] is the accuracy on task j's classes after task k (j <= k)."""
    final = len(task_matrix) - 1
    if final < 1:
        return 0.0
    drops = []
    for j in range(final):
        history = [task_matrix[k][j] for k in range(j, final + 1)]
        drops.append(max(history) - task_matrix[final][j])
    return sum(drops) / len(drops)


def summarize(accuracy: Sequence[float], task_matrix: Sequence[Sequence[float]]) -> IncrementalMetrics:
    """Avg, Last and Fgt from the accuracy after each task and the per-task accuracy rows."""
    if not accuracy or len(accuracy) != len(task_matrix):
        raise ValueError("one accuracy and one row of per-task accuracies is needed for every task")
    return IncrementalMetrics(
        avg_acc=sum(accuracy) / len(accuracy),
        last_acc=float(accuracy[-1]),
        forgetting=forgetting(task_matrix),
    )
