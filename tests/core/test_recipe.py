"""mae_core.recipe on its own: the linear scaling rule, the schedule's corners, the accumulation loop's
order of events, our model under the official names, and the published table's refusals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from mae_core import recipe
from mae_core.errors import SettingError
from mae_core.models import VARIANTS, create_model

ROOT = Path(__file__).resolve().parents[2]


def test_absolute_lr_is_the_linear_scaling_rule():
    assert recipe.absolute_lr(1.5e-4, 64, 1, 64) == pytest.approx(2.4e-3)  # PRETRAIN.md: 4096 images
    assert recipe.absolute_lr(5e-4, 32, 4, 8) == pytest.approx(5e-4 * 1024 / 256)  # FINETUNE.md single node


def test_schedule_corners():
    kw = dict(warmup_epochs=5, epochs=100, min_lr=1e-6)
    assert recipe.lr_at(0.0, 1e-3, **kw) == 0.0
    assert recipe.lr_at(2.5, 1e-3, **kw) == pytest.approx(5e-4)
    assert recipe.lr_at(5.0, 1e-3, **kw) == 1e-3  # the cosine starts at its top
    assert recipe.lr_at(52.5, 1e-3, **kw) == pytest.approx(1e-6 + (1e-3 - 1e-6) * 0.5)
    assert recipe.lr_at(100.0, 1e-3, **kw) == pytest.approx(1e-6)
    points = recipe.schedule(1e-3, points=100, **kw)
    assert len(points) >= 100 and (5.0, 1e-3) in points and points[-1][0] == 100


class Recorder(torch.optim.SGD):
    """SGD that remembers the lr and gradient it stepped with."""

    def __init__(self, params):
        super().__init__(params, lr=0.0)
        self.seen: list[tuple[float, float]] = []

    def step(self, closure=None):
        p = self.param_groups[0]["params"][0]
        self.seen.append((self.param_groups[0]["lr"], p.grad.item()))
        return super().step(closure)


def test_accumulation_sets_the_rate_first_divides_the_loss_and_steps_last():
    w = torch.nn.Parameter(torch.zeros(()))
    model = torch.nn.Module()
    model.w = w
    opt = Recorder([w])
    batches = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]

    def loss_fn(m, b, i):
        return m.w * 0 + b * (m.w + 1)  # d loss / d w = b

    records = recipe.train_steps(model, batches, opt, loss_fn, lr=1.0, warmup_epochs=10, epochs=20, accum_iter=3)
    assert [r.step for r in records] == [1, 2]
    assert [r.losses for r in records] == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    # lr set at micro-batches 0 and 3: epochs 0/6 and 3/6 of a 10-epoch warm-up; grads averaged over 3
    assert opt.seen == [(0.0, pytest.approx(2.0)), (pytest.approx(0.05), pytest.approx(5.0))]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_our_model_under_official_names_in_official_order(variant):
    official = json.loads((ROOT / "mae_core/models/official_state_dicts.json").read_text())[variant]
    names = [n for n, _ in recipe.official_named_parameters(create_model(variant, device="meta"))]
    assert names == official["state_dict_keys_in_order"]


def test_layer_ids():
    assert [recipe.layer_id_for_vit(n, 13) for n in ("cls_token", "pos_embed", "patch_embed.proj.weight",
                                                      "blocks.0.norm1.weight", "blocks.11.mlp.fc2.bias",
                                                      "fc_norm.weight", "head.bias")] == [0, 0, 0, 1, 12, 13, 13]


def test_lars_leaves_one_dimensional_tensors_alone():
    """A bias moves by lr x grad (no decay, no trust ratio); a weight by the trust-scaled, decayed step."""
    w = torch.nn.Parameter(torch.full((2, 2), 2.0))
    b = torch.nn.Parameter(torch.ones(2))
    opt = recipe.LARS([w, b], lr=0.5, weight_decay=0.1)
    w.grad, b.grad = torch.ones(2, 2), torch.ones(2)
    opt.step()
    assert torch.equal(b, torch.full((2,), 0.5))
    d = 1.0 + 0.1 * 2.0
    trust = 0.001 * 4.0 / (d * 2)  # |w| = 4, |d| = 2 d
    assert torch.allclose(w, torch.full((2, 2), 2.0 - 0.5 * d * trust))


def test_published_refuses_what_the_paper_does_not_publish():
    with pytest.raises(SettingError, match="variant"):
        recipe.published("pretrain", "tiny")
    with pytest.raises(SettingError, match="stage"):
        recipe.published("distill", "base")
    for stage in recipe.STAGES:
        for variant in ("base", "large", "huge"):
            pub = recipe.published(stage, variant)
            assert pub.sources and not math.isnan(pub.blr)


@pytest.mark.parametrize("variant", ["base", "large", "huge"])
@pytest.mark.parametrize("stage", ["finetune", "linprobe"])
def test_recipe_groups_are_those_of_the_real_classifier(variant, stage):
    """`mae recipe` groups official names; the classifier (issue 24) has the same names, shapes and
    trainable set, so the groups over it hold the same tensors (meta device)."""
    classifier = pytest.importorskip("mae_core.classifier")
    from mae_core.models import get_variant
    from mae_core.views.recipe import classifier_named_parameters

    probe = stage == "linprobe"
    model = classifier.VisionTransformer(get_variant(variant).config, num_classes=1000, global_pool=not probe,
                                         linear_probe=probe, device="meta")
    if probe:  # main_linprobe.py: everything but the head frozen
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith("head."))
    real = list(model.named_parameters())
    ours = classifier_named_parameters(variant, stage)
    assert {n: (tuple(t.shape), t.requires_grad) for n, t in real} == {
        n: (tuple(t.shape), t.requires_grad) for n, t in ours}
    groups = [recipe.param_groups(stage, named, weight_decay=0.05, layer_decay=0.75) for named in (real, ours)]
    def contents(gs):  # the order of the groups is registration order (timm 0.3.2 put fc_norm after head)
        return sorted((sorted(g["param_names"]), g["weight_decay"], g.get("lr_scale")) for g in gs)

    assert contents(groups[0]) == contents(groups[1])
