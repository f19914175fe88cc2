"""Device choice and the peak-memory meter a trial reports.

On CUDA the figure is the peak of memory allocated by PyTorch on the device during the trial
(`torch.cuda.max_memory_allocated`), what the paper's Table 2 reports. A CPU has no such
counter, so there it is the peak resident memory of the trial's process while the trial runs,
sampled every 20 ms from /proc: it includes the Python interpreter, the frozen ViT and the data,
so it bounds the trial's footprint from above rather than isolating the optimizer's share.
"""

from __future__ import annotations

import os
import resource
import threading
from types import TracebackType

import torch

GIB = float(1 << 30)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but no CUDA device is visible")
    return torch.device(name)


def _resident_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: the lifetime peak is the best figure available
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakMemory:
    """Context manager; `gigabytes` is the peak seen while it was open (see module docstring)."""

    def __init__(self, device: torch.device, interval: float = 0.02) -> None:
        self.device = device
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self.peak_bytes = _resident_bytes()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_bytes = max(self.peak_bytes, _resident_bytes())

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.device.type == "cuda":
            self.peak_bytes = int(torch.cuda.max_memory_allocated(self.device))
        else:
            self._stop.set()
            if self._thread is not None:
                self._thread.join()
            self.peak_bytes = max(self.peak_bytes, _resident_bytes())

    @property
    def gigabytes(self) -> float:
        return self.peak_bytes / GIB
