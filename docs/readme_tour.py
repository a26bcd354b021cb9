"""Write docs/tour.md (every command with its real output) and the README's excerpts of it.

    python3 docs/readme_tour.py             # run every command of TOUR (~2.5 min on 2 busy cores), write
                                            # docs/tour.md and the README block <!-- BEGIN front --> ... END
    python3 docs/readme_tour.py --readme    # only re-cut the README block from docs/tour.md (no command run)

Every output shown is what the command printed on this machine when the script ran: its stdout as a
person sees it in a 110-column terminal and, when it fails, its stderr line and exit code (the one line
a user gets). The README shows short excerpts of the same runs (:data:`FRONT`: the first lines, an
elision line that says how many lines follow in docs/tour.md, the last lines), so the two cannot
disagree. ``tests/docs/test_readme_tour.py`` re-runs the deterministic commands (no timing, no random
weights) and fails if docs/tour.md no longer matches the tool, and checks that the README's excerpts are
cut from docs/tour.md and that every command of the app is in the tour.

A new command: add a line to TOUR (the test fails until there is one), then run this script.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TOUR_MD = ROOT / "docs" / "tour.md"
WIDTH = "110"
BEGIN, END = "<!-- BEGIN front -->", "<!-- END front -->"

# (command, one sentence of what it is for, deterministic?)
TOUR: list[tuple[str, str, bool]] = [
    ("mae variants", "The registry as the paper's table, counted from the models.", True),
    ("mae params --variant huge", "Parameters of ViT-H/14 on the meta device, beside the official count.", True),
    ("mae shapes --variant huge", "The shape after every stage, traced through the real modules on meta.", True),
    ("mae flops --variant base", "FLOPs per stage, counted and cross-checked against a closed form.", True),
    ("mae forward --variant base --batch 2", "A real forward pass with the seeded initialisation.", False),
    ("mae compare-official --variant base --reference timm", "Our model against the official composition on "
     "timm, stage by stage.", False),
    ("mae classify --image tests/data/photo_320x213.jpg --top 3", "The top-3 ImageNet-1k classes of a fine-tuned "
     "classifier (here untrained: pass --weights mae_finetuned_vit_base.pth for real ones).", False),
    ("mae mask-demo --out docs/images/mask_demo.png", "Figure 2 for the built-in image (the PNG is shown in "
     "the mask-demo section).", False),
    ("mae bench --variant base --batch 1 --reference timm", "Speed of ours and a reference, measured in the "
     "same run.", False),
    ("mae features --variant base --blocks 0,-1 --pool mean", "Hidden states of every patch in patch order, the "
     "latent and the pooled vector (add --out F.safetensors to keep them).", False),
    ("mae attention --variant base --blocks 0,11 --png docs/images/attention.png", "Attention maps on the patch "
     "grid (the PNG is shown in the see-inside section).", False),
    ("mae numerics --variant base --dtype float16", "float32 against float16 autocast, stage by stage.", False),
    ("mae sweep --ratios 0.25,0.5,0.75,0.9 --mask random,block,grid,center --out docs/images/sweep.png",
     "Loss against mask ratio and mask strategy (the PNG is shown in the sizes-and-masks section).", False),
    ("mae download mae_pretrain_vit_base --dir /tmp --timeout 5", "An official checkpoint, resumable and md5-checked "
     "(this machine is offline: nothing on stdout, one line on stderr, exit 2).", False),
    ("mae recipe --variant base --stage finetune --plot docs/images/recipe_finetune.png", "The fine-tuning "
     "recipe of ViT-B/16 as FINETUNE.md and util/lr_decay.py run it: one AdamW group per layer and decay, the "
     "absolute lr, the per-iteration schedule (the PNG draws one line per layer scale).", True),
    ("mae memory --variant large --batch 64 --budget 80GiB", ("Memory of a ViT-L/16 training step per stage, in "
     "closed form, and the largest batch in 80 GiB with and without mask tokens in the encoder."), True),
    ("mae memory --variant vit_huge_patch14 --batch 16 --autocast --dtype bfloat16 --budget 80GB", "Memory of a "
     "ViT-H/14 fine-tuning step (every patch, drop path 0.3, label smoothing, AdamW on every weight) at "
     "FINETUNE.md's 16 per GPU, and the largest batch in 80 GB (`--stage linprobe`: the frozen encoder).", True),
]

# The README's excerpts: (command of TOUR, what it shows, first lines kept, last lines kept); None: all.
FRONT: list[tuple[str, str, int | None, int]] = [
    ("mae compare-official --variant base --reference timm",
     "The headline check: our model against the official composition, stage by stage, on identical "
     "weights, images and masking noise.", 12, 2),
    ("mae params --variant huge", "Parameters, counted on the meta device, beside the official model's.", 9, 0),
    ("mae mask-demo --out docs/images/mask_demo.png", "The picture above, and the mask in the terminal.", 18, 2),
    ("mae forward --variant base --batch 2", "A real forward pass, measured.", None, 0),
    ("mae flops --variant base", "FLOPs per stage, counted and in closed form.", 11, 0),
    ("mae memory --variant large --batch 64 --budget 80GiB", "Memory of a training step before you run it.", 0, 5),
]


def run(command: str) -> str:
    """What a person sees in a 110-column terminal: stdout; on failure also stderr, then the exit code."""
    env = {**os.environ, "COLUMNS": WIDTH, "TERM": "dumb", "NO_COLOR": "1"}
    args = [sys.executable, "-m", "mae_cli", *command.split()[1:]]
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    lines = done.stdout.rstrip().splitlines()
    if done.returncode != 0:
        lines += done.stderr.rstrip().splitlines()
    text = "\n".join(line.rstrip() for line in lines).strip("\n")
    return text if done.returncode == 0 else f"{text}\n(exit {done.returncode})".lstrip("\n")


def block(command: str, output: str) -> str:
    return f"```console\n$ {command}\n{output}\n```"


def tour(outputs: dict[str, str] | None = None) -> str:
    """docs/tour.md, from ``outputs`` (command -> output), running each command not in it."""
    outputs = dict(outputs or {})
    parts = ["# A tour of every command, with real output", "",
             "<!-- Generated by python3 docs/readme_tour.py; tests/docs/test_readme_tour.py re-runs the "
             "deterministic commands and fails if they drift. Do not edit by hand. -->", "",
             "Generated by `python3 docs/readme_tour.py` on the project's 2-core CPU machine (Intel Xeon, "
             "Sapphire Rapids), after the README's set-up command. Every option of every command: "
             "[the CLI reference](cli.md).", ""]
    for command, what, _ in TOUR:
        if command not in outputs:
            print(f"running: {command}", file=sys.stderr)
            outputs[command] = run(command)
        parts += [what, "", block(command, outputs[command]), ""]
    return "\n".join(parts).rstrip() + "\n"


def recorded(text: str) -> dict[str, str]:
    """command -> output of every console block in ``text`` (docs/tour.md)."""
    return {m.group(1): m.group(2) for m in re.finditer(r"```console\n\$ ([^\n]*)\n(.*?)\n```", text, flags=re.S)}


def excerpt(output: str, head: int | None, tail: int) -> str:
    lines = output.splitlines()
    if head is None or head + tail >= len(lines):
        return output
    left = len(lines) - head - tail
    return "\n".join(lines[:head] + [f"... ({left} more lines: docs/tour.md)"] + (lines[-tail:] if tail else []))


def front(outputs: dict[str, str]) -> str:
    parts = []
    for command, what, head, tail in FRONT:
        if command not in outputs:
            raise SystemExit(f"{command!r} of FRONT has no output in docs/tour.md: add it to TOUR and regenerate")
        parts += [what, "", block(command, excerpt(outputs[command], head, tail)), ""]
    return "\n".join(parts)


def write_readme(outputs: dict[str, str]) -> None:
    text = README.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"README.md has no {BEGIN} ... {END} block")
    new = re.sub(re.escape(BEGIN) + r"\n.*?" + re.escape(END), lambda _: f"{BEGIN}\n{front(outputs)}{END}", text,
                 flags=re.S)
    README.write_text(new)


def main() -> None:
    if "--readme" not in sys.argv[1:]:
        TOUR_MD.write_text(tour())
        print(f"wrote {TOUR_MD.relative_to(ROOT)}", file=sys.stderr)
    write_readme(recorded(TOUR_MD.read_text()))
    print("wrote the README's excerpts", file=sys.stderr)


if __name__ == "__main__":
    main()
