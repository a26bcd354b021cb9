"""Start-up cost of the `mae` tool: `mae params --variant huge` against `python -c "import torch"`.

Goal (issue 3): the command takes at most 1.3x the wall time of importing torch, and at most 150 MB more
peak memory (RSS). `mae params` builds ViT-H/14 on the meta device, so beyond torch itself it should only
pay for Typer, Rich and the model registry.

Both commands run as child processes, alternately, ``--runs`` times each; each run's wall time is taken
with ``time.perf_counter`` around the child, and its peak RSS from ``os.wait4`` (the child's own
``ru_maxrss``). The medians are compared. Exit status 0 when both goals are met, 1 otherwise.

    python3 benchmarks/cli_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

TIME_GOAL = 1.3  # at most this many times the wall time of `import torch`
MEMORY_GOAL_MB = 150.0  # at most this much more peak RSS than `import torch`


def measure(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process; fails if the child fails."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    err = child.stderr.read().decode(errors="replace")
    child.stderr.close()
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed with exit code {child.returncode}: {err.strip()}")
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return wall, usage.ru_maxrss * scale / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (the median is compared)")
    args = parser.parse_args()

    mae = shutil.which("mae")
    tool = [mae] if mae else [sys.executable, "-m", "mae_cli"]
    commands = {
        "python -c 'import torch'": [sys.executable, "-c", "import torch"],
        "mae params --variant huge": [*tool, "params", "--variant", "huge"],
    }
    for argv in commands.values():  # warm the file cache once, not measured
        measure(argv)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, argv in commands.items():  # alternate, so background load hits both alike
            results[name].append(measure(argv))

    print(f"{'command':<28} {'median wall s':>14} {'min wall s':>11} {'median peak RSS MB':>19}  ({args.runs} runs, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})")
    medians = {}
    for name, runs in results.items():
        walls, rss = [w for w, _ in runs], [m for _, m in runs]
        medians[name] = (statistics.median(walls), statistics.median(rss))
        print(f"{name:<28} {medians[name][0]:>14.3f} {min(walls):>11.3f} {medians[name][1]:>19.1f}")
    (t_torch, m_torch), (t_mae, m_mae) = medians.values()
    ratio, extra = t_mae / t_torch, m_mae - m_torch
    time_ok, memory_ok = ratio <= TIME_GOAL, extra <= MEMORY_GOAL_MB
    print(f"time ratio   {ratio:.2f}x   (goal <= {TIME_GOAL}x)  {'met' if time_ok else 'MISSED'}")
    print(f"extra memory {extra:+.1f} MB (goal <= {MEMORY_GOAL_MB:.0f} MB)  {'met' if memory_ok else 'MISSED'}")
    return 0 if time_ok and memory_ok else 1


if __name__ == "__main__":
    sys.exit(main())
