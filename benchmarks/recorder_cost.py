"""What recording costs: a ViT-B/16 forward plain, recording hidden states, and recording attention.

Goal (issue 14): recording the hidden states adds < 10 % to a ViT-B forward; recording attention may be
slower (every block switches to the explicit attention path, and the probabilities are kept).

One process, one model, the same images and noise. Each round runs the three variants once each, in
an order that rotates from round to round (plain, hidden, attention; hidden, attention, plain; ...),
so a machine that gets busier or quieter during the run slows all three alike. Each variant's cost is
the median over the rounds of its time divided by the plain forward's time in the same round (a paired
ratio: on a shared machine the load changes from second to second, and neighbours in time see the same
load); the median times are printed too. Wall time is ``time.perf_counter`` around one
``model(imgs, 0.75, noise)`` under
``torch.no_grad()`` (the recording's context manager included). Exit status 0 when the hidden-state
goal is met, 1 otherwise.

    flock /tmp/mae-heavy.lock python benchmarks/recorder_cost.py [--rounds 15] [--batch 1] [--threads 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import torch

from mae_core.models import create_model
from mae_core.views.recorder import record

GOAL = 1.10  # hidden states: at most this many times the plain forward


def cpu_name() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--mask-ratio", type=float, default=0.75)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's); 1 is "
                        "the most stable on a shared machine")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    model = create_model("base").eval()
    g = torch.Generator().manual_seed(1)
    imgs = torch.randn(args.batch, 3, 224, 224, generator=g)
    noise = torch.rand(args.batch, 196, generator=g)

    def plain():
        model(imgs, args.mask_ratio, noise)

    def hidden():
        with record(model):
            model(imgs, args.mask_ratio, noise)

    def attention():
        with record(model, attention=True):
            model(imgs, args.mask_ratio, noise)

    runs = {"plain": plain, "hidden states": hidden, "attention": attention}
    names = list(runs)
    times: dict[str, list[float]] = {n: [] for n in names}
    with torch.no_grad():
        for fn in runs.values():  # warm-up: the first call pays one-off costs
            fn()
        for r in range(args.rounds):
            for name in names[r % 3:] + names[: r % 3]:
                start = time.perf_counter()
                runs[name]()
                times[name].append(time.perf_counter() - start)
    medians = {n: statistics.median(t) for n, t in times.items()}
    ratios = {n: statistics.median(t / p for t, p in zip(times[n], times["plain"], strict=True)) for n in names}
    report = {
        "machine": f"{cpu_name()}, {torch.get_num_threads()} threads",
        "torch": torch.__version__, "batch": args.batch, "mask_ratio": args.mask_ratio, "rounds": args.rounds,
        "median_s": medians, "median_paired_ratio_to_plain": ratios, "goal_hidden_states": GOAL,
        "met": ratios["hidden states"] < GOAL,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"ViT-B/16 forward, batch {args.batch}, mask ratio {args.mask_ratio}, {args.rounds} rounds "
              f"(median), {report['machine']}, torch {torch.__version__}")
        for n in names:
            print(f"  {n:<14} {medians[n] * 1000:8.1f} ms   x{ratios[n]:.3f}")
        print(f"hidden states goal < x{GOAL}: {'met' if report['met'] else 'NOT met'}")
    return 0 if report["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
