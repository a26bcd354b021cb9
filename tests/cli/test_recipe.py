"""`mae recipe`: the groups, the absolute lr and the schedule of each stage, computed again here.

The numbers are recomputed from the published settings (PRETRAIN.md / FINETUNE.md / LINPROBE.md,
docs/recipe.md) and the official rules, not read back from mae_core: the lr by the linear scaling rule,
the schedule by the cosine formula, the groups by their defining property.
"""

from __future__ import annotations

import math

import pytest

from mae_core.models import get_variant


def cosine(epoch: float, lr: float, warmup: float, epochs: float, min_lr: float) -> float:
    if epoch < warmup:
        return lr * epoch / warmup
    return min_lr + (lr - min_lr) * 0.5 * (1 + math.cos(math.pi * (epoch - warmup) / (epochs - warmup)))


def test_pretrain_defaults_groups_and_schedule(cli_json):
    data = cli_json("recipe", "--variant", "base", "--stage", "pretrain")
    assert data["lr"] == pytest.approx(1.5e-4 * 4096 / 256)  # PRETRAIN.md: blr 1.5e-4, 64 x 64 GPUs
    assert data["settings"]["warmup_epochs"] == 40 and data["settings"]["epochs"] == 800
    no_decay, decay = data["param_groups"]
    assert no_decay["weight_decay"] == 0 and decay["weight_decay"] == 0.05
    assert {"cls_token", "mask_token"} <= set(decay["params"])  # decayed, as main_pretrain.py runs it
    assert all(n.endswith(".bias") or "norm" in n for n in no_decay["params"])
    assert "pos_embed" in data["frozen"] and "decoder_pos_embed" in data["frozen"]
    assert "encoder.blocks.0.attn.qkv.weight" not in decay["params"]  # official names
    assert "blocks.0.attn.qkv.weight" in decay["params"]
    total = sum(g["parameters"] for g in data["param_groups"])
    model_params = get_variant("base").config  # trainable = all but the two sin-cos tables
    tables = (model_params.num_patches + 1) * (model_params.embed_dim + model_params.decoder_embed_dim)
    from mae_core.models import create_model

    assert total == sum(p.numel() for p in create_model("base", device="meta").parameters()) - tables
    sched = data["schedule"]
    assert len(sched) >= 50 and sched[0] == {"epoch": 0.0, "lr": 0.0}
    assert any(p["epoch"] == 40 for p in sched) and sched[-1]["epoch"] == 800
    for p in sched:
        assert p["lr"] == pytest.approx(cosine(p["epoch"], data["lr"], 40, 800, 0.0), abs=1e-15)


def test_options_change_the_lr_and_schedule(cli_json):
    data = cli_json("recipe", "--stage", "pretrain", "--batch-size", "32", "--accum-iter", "4", "--world-size", "2",
                    "--blr", "1e-3", "--epochs", "10", "--warmup-epochs", "2", "--min-lr", "1e-5")
    assert data["lr"] == pytest.approx(1e-3 * 32 * 4 * 2 / 256)
    assert data["effective_batch"] == 256
    assert sorted(data["overridden"]) == ["accum_iter", "batch_size", "blr", "epochs", "min_lr", "warmup_epochs",
                                          "world_size"]
    assert data["schedule"][-1]["lr"] == pytest.approx(1e-5)


@pytest.mark.parametrize("variant, decay, depth", [("base", 0.65, 12), ("large", 0.75, 24), ("huge", 0.75, 32)])
def test_finetune_layer_decay(cli_json, variant, decay, depth):
    data = cli_json("recipe", "--variant", variant, "--stage", "finetune")
    groups = data["param_groups"]
    assert len(groups) == 2 * (depth + 2)  # decay / no decay per layer id 0 .. depth + 1
    for g in groups:
        assert g["lr_scale"] == pytest.approx(decay ** (depth + 1 - g["layer_id"]))
    first = groups[0]
    assert {"cls_token", "pos_embed"} <= set(first["params"]) and first["weight_decay"] == 0
    head = [g for g in groups if "head.weight" in g["params"]][0]
    assert head["lr_scale"] == 1 and head["weight_decay"] == 0.05
    assert data["settings"]["layer_decay"] == decay
    assert data["lr"] == pytest.approx(data["settings"]["blr"] * 1024 / 256)


def test_linprobe_trains_the_head_with_lars(cli_json):
    data = cli_json("recipe", "--variant", "large", "--stage", "linprobe")
    (group,) = data["param_groups"]
    assert group["params"] == ["head.1.weight", "head.1.bias"] and group["lars_exempt"] == ["head.1.bias"]
    assert data["lr"] == pytest.approx(0.1 * 16384 / 256) and data["settings"]["epochs"] == 50
    assert "blocks.0.attn.qkv.weight" in data["frozen"]


def test_plot_is_written(cli, tmp_path):
    out = tmp_path / "lr.png"
    result = cli("recipe", "--stage", "finetune", "--plot", out)
    assert result.exit_code == 0, result.stderr
    from PIL import Image

    with Image.open(out) as picture:
        assert picture.format == "PNG" and picture.size == (720, 460)
    assert [p.name for p in tmp_path.iterdir()] == ["lr.png"]


@pytest.mark.parametrize("args, option", [
    (["--stage", "finetune", "--layer-decay", "0"], "--layer-decay"),
    (["--stage", "finetune", "--layer-decay", "1.5"], "--layer-decay"),
    (["--warmup-epochs", "50", "--epochs", "10"], "--warmup-epochs"),
    (["--blr", "-1e-3"], "--blr"),
    (["--stage", "pretrain", "--layer-decay", "0.7"], "--layer-decay"),
    (["--stage", "midtrain"], "--stage"),
    (["--batch-size", "0"], "--batch-size"),
    (["--plot", "lr.jpg"], "--plot"),
    (["--plot", "/dev/null.png/x.png"], "--plot"),
])
def test_bad_input_is_one_line_exit_2(cli, args, option):
    result = cli("recipe", *args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and option in lines[0] and "Traceback" not in result.stderr


def test_plot_refuses_a_pipe(cli, tmp_path):
    """A FIFO (like a device) named as --plot is refused before anything is opened (no hang, no write)."""
    import os

    fifo = tmp_path / "lr.png"
    os.mkfifo(fifo)
    result = cli("recipe", "--plot", fifo)
    assert result.exit_code == 2 and "not a regular file" in result.stderr
