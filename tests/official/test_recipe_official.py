"""The recipe against the official training code, through the official files' own entry points.

tests/data/official_fixture stands in for a clone (its util/lr_sched.py, util/lr_decay.py, util/lars.py,
engine_pretrain.py and util/misc.py have the official names, layout and computations); every rule of
:mod:`mae_core.recipe` is compared with what those files (and timm's weight-decay grouping, which
``main_pretrain.py`` calls) compute: the pre-training groups of B/L/H on the meta device, the layer-decay
groups of B (0.65) and L (0.75), the schedule at 100 points, LARS steps, and optimizer steps of a small
pre-training config with accum_iter 1 and 2. A planted warm-up shift in a copy of util/lr_sched.py must
be caught by ``mae compare-official --steps`` (exit 1).
"""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

from mae_cli.app import app
from mae_core import MAEConfig, recipe
from mae_core.models import VARIANTS, get_variant
from mae_core.views.recipe import classifier_named_parameters
from official_mae.official import OfficialReference
from official_mae.steps import import_official_training, official_pretrain_groups, pretrain_steps

from .helpers import FIXTURE_SRC

TINY = MAEConfig(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4, decoder_embed_dim=32,
                 decoder_depth=1, decoder_num_heads=4)


@pytest.fixture(scope="module")
def cli():
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def official():
    return import_official_training(FIXTURE_SRC)


def names(groups, model):
    by_id = {id(p): n for n, p in model.named_parameters()}
    return [([by_id[id(p)] for p in g["params"]], g["weight_decay"]) for g in groups]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_pretrain_groups_match_the_official_rule(variant, official):
    """Our groups over our model (meta) == timm's add_weight_decay rule over the official model (meta)."""
    spec = get_variant(variant)
    ref = OfficialReference(spec.config, FIXTURE_SRC)  # built on meta by the official factory
    theirs, _ = official_pretrain_groups(ref.model, 0.05)
    with torch.device("meta"):
        ours_model = spec.factory()
    ours = recipe.pretrain_param_groups(recipe.official_named_parameters(ours_model), 0.05)
    assert [(g["param_names"], g["weight_decay"]) for g in ours] == names(theirs, ref.model)
    decayed = set(ours[1]["param_names"])
    assert {"cls_token", "mask_token"} <= decayed  # the surprise: the tokens ARE decayed in pre-training
    assert not {"pos_embed", "decoder_pos_embed"} & (decayed | set(ours[0]["param_names"]))


def vit_like(variant: str) -> torch.nn.Module:
    """A module with the official fine-tuning names (models_vit, global_pool) on meta: parameters from
    :func:`classifier_named_parameters`, a ``blocks`` list and ``no_weight_decay()`` as timm's ViT."""
    module = torch.nn.Module()
    named = classifier_named_parameters(variant)
    for name, t in named:
        parent = module
        parts = name.split(".")
        for part in parts[:-1]:
            if not hasattr(parent, part):
                parent.add_module(part, torch.nn.Module())
            parent = getattr(parent, part)
        parent.register_parameter(parts[-1], torch.nn.Parameter(t, requires_grad=t.requires_grad))
    module.blocks = torch.nn.ModuleList([getattr(module.blocks, str(i)) for i in range(len(module.blocks._modules))])
    module.no_weight_decay = lambda: {"pos_embed", "cls_token", "dist_token"}
    return module


@pytest.mark.parametrize("variant, decay", [("base", 0.65), ("large", 0.75)])
def test_layer_decay_groups_match_lr_decay_py(variant, decay, official):
    model = vit_like(variant)
    theirs = official.lr_decay.param_groups_lrd(model, 0.05, no_weight_decay_list=model.no_weight_decay(),
                                                layer_decay=decay)
    ours = recipe.finetune_param_groups(model.named_parameters(), 0.05, decay)
    assert [(g["param_names"], g["weight_decay"], g["lr_scale"]) for g in ours] == [
        (n, wd, g["lr_scale"]) for (n, wd), g in zip(names(theirs, model), theirs, strict=True)]
    depth = get_variant(variant).config.depth
    head = next(g for g in ours if "head.weight" in g["param_names"])
    first = next(g for g in ours if "cls_token" in g["param_names"])
    assert head["lr_scale"] == 1.0 and first["lr_scale"] == decay ** (depth + 1)
    assert first["weight_decay"] == 0.0  # cls_token and pos_embed are exempt in fine-tuning


def test_classifier_names_are_timms_vit_names():
    """The names and shapes we group for fine-tuning are those of a ViT with a global-pool head."""
    vit = pytest.importorskip("timm.models.vision_transformer")
    with torch.device("meta"):
        model = vit.VisionTransformer(img_size=224, patch_size=16, embed_dim=768, depth=12, num_heads=12,
                                      global_pool="avg", fc_norm=True, num_classes=1000)
    assert ({n: tuple(p.shape) for n, p in model.named_parameters()}
            == {n: tuple(t.shape) for n, t in classifier_named_parameters("base")})


def test_schedule_at_100_points_matches_lr_sched_py(official):
    groups = [{"params": [torch.zeros(1)], "lr_scale": 0.5}, {"params": [torch.zeros(1)]}]
    opt = torch.optim.SGD(groups, lr=0.0)
    args = SimpleNamespace(lr=2.4e-3, min_lr=1e-6, warmup_epochs=40, epochs=800)
    for i in range(100):
        epoch = 800 * i / 99 + (0.37 if i < 99 else 0.0)
        unscaled = official.lr_sched.adjust_learning_rate(opt, epoch, args)
        ours = recipe.lr_at(epoch, 2.4e-3, warmup_epochs=40, epochs=800, min_lr=1e-6)
        assert ours == unscaled
        recipe.set_lr(opt, ours)  # our setter gives each group the same value again
        assert [g["lr"] for g in opt.param_groups] == [ours * 0.5, ours]


def test_lars_matches_lars_py(official):
    """Three LARS steps on a linear head (weight: trust ratio and decay; bias: neither), bit for bit."""
    torch.manual_seed(0)
    head = torch.nn.Linear(16, 5)
    twin = torch.nn.Linear(16, 5)
    twin.load_state_dict(head.state_dict())
    ours = recipe.LARS(head.parameters(), lr=0.1, weight_decay=0.05)
    theirs = official.lars.LARS(twin.parameters(), lr=0.1, weight_decay=0.05)
    x, y = torch.randn(8, 16), torch.randint(0, 5, (8,))
    for _ in range(3):
        for model, opt in ((head, ours), (twin, theirs)):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        assert torch.equal(head.weight, twin.weight) and torch.equal(head.bias, twin.bias)


@pytest.mark.parametrize("accum_iter", [1, 2])
def test_three_pretraining_steps_are_bit_identical(accum_iter):
    g = torch.Generator().manual_seed(0)
    micro = 3 * accum_iter
    imgs = torch.randn(micro, 2, 3, 32, 32, generator=g)
    noises = torch.rand(micro, 2, TINY.num_patches, generator=g)
    result = pretrain_steps(TINY, FIXTURE_SRC, imgs, noises, lr=1e-3, warmup_epochs=0.5, epochs=2, min_lr=0.0,
                            weight_decay=0.05, accum_iter=accum_iter)
    assert result["passed"], result["first_failure"]
    assert [r["step"] for r in result["steps"]] == [1, 2, 3]
    assert all(len(r["loss"]["ours"]) == accum_iter and r["max_param_diff"] == 0.0 for r in result["steps"])
    lrs = [r["lr"][0]["official"] for r in result["steps"]]
    assert lrs[0] == 0.0 and lrs[1] > 0 and lrs[2] < 1e-3  # warm-up from 0, then the cosine
    assert all(r["same"] for r in result["groups"])


def test_a_shifted_warm_up_is_caught(cli, tmp_path):
    """A copy of the official util/lr_sched.py whose warm-up starts one epoch later: exit 1."""
    planted = tmp_path / "clone"
    shutil.copytree(FIXTURE_SRC, planted)
    sched = planted / "util" / "lr_sched.py"
    text = sched.read_text()
    assert "lr = args.lr * epoch / args.warmup_epochs" in text
    sched.write_text(text.replace("lr = args.lr * epoch / args.warmup_epochs",
                                  "lr = args.lr * (epoch - 1) / args.warmup_epochs"))
    args = ["compare-official", "--steps", "3", "--img-size", "32", "--json"]
    good = cli(*args, "--official-src", FIXTURE_SRC)
    assert good.exit_code == 0, good.stderr
    bad = cli(*args, "--official-src", planted)
    assert bad.exit_code == 1, bad.stderr
    data = json.loads(bad.stdout)
    assert data["first_failure"] == "step 1" and not data["passed"]
    assert data["steps"][0]["lr"][0]["ours"] != data["steps"][0]["lr"][0]["official"]


@pytest.mark.parametrize("args, fragment", [
    (["--steps", "0"], "--steps"),
    (["--steps", "2", "--grad"], "--grad"),
    (["--accum-iter", "2"], "--steps"),
])
def test_steps_bad_input(cli, args, fragment):
    result = cli("compare-official", "--img-size", "32", "--official-src", FIXTURE_SRC, *args)
    assert result.exit_code == 2, result.stdout
    assert fragment in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("stage, words", [("pretrain", "pretrain step(s) x 4 micro-batch(es) of ViT-H/14"),
                                          ("finetune", "finetune step(s) x 4 micro-batch(es) of ViT-H/14")])
def test_steps_that_would_run_for_hours_are_refused_before_the_official_code_is_imported(cli, stage, words,
                                                                                          monkeypatch):
    """Both loops, every micro-batch, training (forward and backward) are counted by the work check: 1000 ViT-H
    steps of 4 micro-batches are hours on any CPU; one line, exit 2, nothing imported yet (no note). (Memory is
    made plentiful so that the work check, not the memory check, is the one that speaks.)"""
    from mae_core.views import memory_budget

    monkeypatch.setattr(memory_budget, "available_memory", lambda device: memory_budget.Available(2**40, "test"))
    result = cli("compare-official", "--variant", "huge", "--steps", "1000", "--accum-iter", "4", "--stage", stage,
                 "--official-src", FIXTURE_SRC)
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "minutes" in lines[0], lines


def test_steps_size_both_models(monkeypatch):
    """Ours and the official model are alive at once: the fit check counts two sets of weights, gradients and
    AdamW state (and one set of activations)."""
    from mae_core.errors import MemoryBudgetError
    from mae_core.models import get_variant
    from mae_core.views import memory_budget
    from mae_core.views.memory import estimate
    from mae_core.views.prepare import check_forward_fits

    cfg = get_variant("base").config
    e = estimate(cfg, 2, 0.75, mode="train", optimizer="adamw")
    one_model = e.total
    monkeypatch.setattr(memory_budget, "available_memory", lambda device: memory_budget.Available(one_model, "test"))
    check_forward_fits(cfg, "ViT-B/16", 2, "cpu", mask_ratio=0.75, train=True)  # one model fits exactly
    with pytest.raises(MemoryBudgetError, match="needs about"):
        check_forward_fits(cfg, "ViT-B/16", 2, "cpu", mask_ratio=0.75, train=True, models=2)


def test_steps_need_the_official_source(cli):
    result = cli("compare-official", "--steps", "2", "--img-size", "32")
    assert result.exit_code == 2 and "--official-src" in result.stderr


# --- fine-tuning steps: need the classifier (issue 24) and the fixture's models_vit.py ---------------

def _classifier():
    classifier = pytest.importorskip("mae_core.classifier")
    if not (FIXTURE_SRC / "models_vit.py").is_file():
        pytest.skip("the fixture clone has no models_vit.py yet")
    return classifier


@pytest.mark.parametrize("accum_iter", [1, 2])
def test_three_finetuning_steps_are_bit_identical(accum_iter):
    """Our classifier (drop path 0.1, layer decay 0.75, label smoothing 0.1) vs engine_finetune.py."""
    from official_mae.steps import finetune_steps

    classifier = _classifier()
    torch.manual_seed(0)
    model = classifier.VisionTransformer(TINY, num_classes=10, global_pool=True, drop_path_rate=0.1)
    g = torch.Generator().manual_seed(0)
    micro = 3 * accum_iter
    imgs = torch.randn(micro, 4, 3, 32, 32, generator=g)
    targets = torch.randint(0, 10, (micro, 4), generator=g)
    result = finetune_steps(model, FIXTURE_SRC, imgs, targets, lr=1e-3, warmup_epochs=0.5, epochs=2, min_lr=1e-6,
                            weight_decay=0.05, layer_decay=0.75, accum_iter=accum_iter)
    assert result["passed"], result["first_failure"]
    assert len(result["groups"]) == 2 * (TINY.depth + 2)
    assert all(r["max_param_diff"] == 0.0 for r in result["steps"])


def test_finetuning_steps_through_the_cli(cli):
    _classifier()
    result = cli("compare-official", "--steps", "2", "--stage", "finetune", "--img-size", "32", "--json",
                 "--official-src", FIXTURE_SRC)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["stage"] == "finetune" and data["passed"] and len(data["steps"]) == 2
    assert any("no mixup" in n for n in data["notes"])
