"""Where the time goes: torch.profiler over our MAE's forward (or training) step, grouped by operator.

Paper: none (engineering). This is the profile behind ``mae_core/kernels/fast_path.py``; its findings are
written down in ``benchmarks/README.md``.

    python3 benchmarks/profile_model.py                                   # ViT-B, batch 1, forward, float32
    python3 benchmarks/profile_model.py --batch 8 --mode train --path fast --threads 1
    python3 benchmarks/profile_model.py --dtype bfloat16 --path fast --by-shape

Prints the operators by self CPU time (and, with ``--by-shape``, by input shape). With one thread the
shares are stable even on a busy machine (another process only stretches every operator alike); with
two threads a busy machine makes every parallel region wait for a descheduled thread, which shows up as
milliseconds on tiny operators: profile multi-threaded only when the machine is quiet.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", default="base")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--mode", choices=("forward", "train"), default="forward")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    p.add_argument("--path", choices=("exact", "fast"), default="exact")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--steps", type=int, default=3, help="Profiled steps (after two warm-up steps).")
    p.add_argument("--rows", type=int, default=20)
    p.add_argument("--by-shape", action="store_true", help="Also group by input shapes.")
    args = p.parse_args(argv)

    import torch
    from torch.profiler import ProfilerActivity, profile

    from mae_core.kernels.fast_path import use_fast_path
    from mae_core.models import create_model

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = create_model(args.variant, device="cpu")
    dtype = getattr(torch, args.dtype)
    model = use_fast_path(model.to(dtype), args.path == "fast")
    cfg = model.config
    imgs = torch.randn(args.batch, cfg.in_chans, *cfg.image_hw).to(dtype)
    noise = torch.rand(args.batch, cfg.num_patches)

    def step() -> None:
        if args.mode == "forward":
            with torch.inference_mode():
                model(imgs, 0.75, noise)
        else:
            model.zero_grad(set_to_none=True)
            model(imgs, 0.75, noise).loss.backward()

    for _ in range(2):
        step()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=args.by_shape) as prof:
        for _ in range(args.steps):
            step()
    print(f"{args.variant} batch {args.batch} {args.mode} {args.dtype} {args.path} path, "
          f"{torch.get_num_threads()} thread(s), {args.steps} steps")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=50))
    if args.by_shape:
        print(prof.key_averages(group_by_input_shape=True).table(
            sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=30, max_shapes_column_width=80))
    return 0


if __name__ == "__main__":
    sys.exit(main())
