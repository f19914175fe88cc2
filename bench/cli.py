"""How fast the command line answers: `--help`, `list`, and a grid error, each in a fresh interpreter.

Each command runs `--repeats` times as `python -c "<run orchestrator.cli.main>"` from the project
root (a fresh process, as a user's shell starts it); the median wall time is reported (target:
under 1 s each). One more run per command reports which heavy libraries (torch, ray, mlflow, timm,
pandas) it imported: none of these commands needs any of them.

Usage: python -m bench cli [--repeats 5]
The last output line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "ray", "mlflow", "timm", "pandas")
RUN_CLI = "import sys; sys.argv[0] = 'zfsweep'; from orchestrator.cli import main; main()"
REPORT_HEAVY = ("import sys, atexit; atexit.register(lambda: print('HEAVY=' + ','.join(m for m in {heavy!r} "
                "if m in sys.modules), file=sys.stderr)); sys.argv[0] = 'zfsweep'; "
                "from orchestrator.cli import main; main()")


def _run(code: str, args: list[str]) -> tuple[float, int, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True)
    return time.perf_counter() - started, done.returncode, done.stderr


def measure(name: str, args: list[str], repeats: int, expected_code: int) -> dict[str, object]:
    seconds = []
    for _ in range(repeats):
        elapsed, code, stderr = _run(RUN_CLI, args)
        if code != expected_code:
            raise SystemExit(f"{name}: exit code {code}, expected {expected_code}: {stderr.strip()[-300:]}")
        seconds.append(elapsed)
    _, _, stderr = _run(REPORT_HEAVY.format(heavy=HEAVY), args)
    heavy = next((line[6:] for line in stderr.splitlines() if line.startswith("HEAVY=")), "")
    return {f"{name}_seconds": round(statistics.median(seconds), 3),
            f"{name}_heavy_imports": [m for m in heavy.split(",") if m]}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench cli", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="zfsweep-bench-cli-") as scratch:
        bad = Path(scratch) / "bad.yaml"
        bad.write_text("fixed: {dataset: digits}\naxes: {optimizer: [fo-sgd, zo-nope]}\n")
        result: dict[str, object] = {}
        for name, command, code in (("help", ["--help"], 0), ("list_optimizers", ["list", "optimizers"], 0),
                                    ("grid_error", ["run", str(bad)], 2),
                                    ("grid_error_dry_run", ["run", str(bad), "--dry-run"], 2)):
            result.update(measure(name, command, args.repeats, code))
            print(f"{name}: {result[f'{name}_seconds']} s, heavy imports: {result[f'{name}_heavy_imports'] or 'none'}")
    result["target_seconds"] = 1.0
    result["all_under_target"] = all(v < 1.0 for k, v in result.items() if k.endswith("_seconds") and k != "target_seconds")
    print(json.dumps(result))
    return 0
