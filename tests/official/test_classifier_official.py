"""The fine-tuned classifier against the official models_vit.py (the fixture clone), timm and transformers:
checkpoints written by the official class classify the photo as the official model does after the
official evaluation transform; compare-official passes on them and fails on a planted difference."""

from __future__ import annotations

import json
import shutil
from functools import partial

import PIL.Image
import pytest
import torch
from torchvision import transforms
from typer.testing import CliRunner

from mae_cli.app import app
from mae_core.models import create_model
from mae_core.views.classify import classify
from official_mae.classifier import compare_classifier_official, import_official_vit

from .helpers import DATA, FIXTURE_SRC

PHOTO = DATA / "photo_320x213.jpg"
OFFICIAL_EVAL = transforms.Compose([  # util/datasets.py build_transform(is_train=False, input_size=224)
    transforms.Resize(256, interpolation=PIL.Image.BICUBIC), transforms.CenterCrop(224), transforms.ToTensor(),
    transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])


def _official_model(linear_probe: bool, num_classes: int = 1000):
    module, _ = import_official_vit(FIXTURE_SRC)
    torch.manual_seed(3)
    model = module.vit_base_patch16(num_classes=num_classes, global_pool=not linear_probe)
    if linear_probe:  # main_linprobe.py
        model.head = torch.nn.Sequential(torch.nn.BatchNorm1d(768, affine=False, eps=1e-6), model.head)
    with torch.no_grad():  # a "trained" head and BatchNorm statistics, so that the classes differ clearly
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
        linear = model.head[-1] if linear_probe else model.head
        linear.weight.normal_(0, 0.05)
        if linear_probe:
            model.head[0].running_mean.normal_(0, 0.1)
            model.head[0].running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """{kind: (path, official model)}: written as main_finetune.py / main_linprobe.py save them ({'model': ...})."""
    root = tmp_path_factory.mktemp("classifiers")
    made = {}
    for kind, probe in (("finetuned", False), ("linprobe", True)):
        model = _official_model(probe)
        path = root / f"{kind}.pth"
        torch.save({"model": model.state_dict()}, path)
        made[kind] = (path, model)
    yield made
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("kind", ["finetuned", "linprobe"])
def test_classify_matches_the_official_model(checkpoints, kind):
    path, official = checkpoints[kind]
    with torch.no_grad():
        probs = official(OFFICIAL_EVAL(PIL.Image.open(PHOTO).convert("RGB")).unsqueeze(0)).softmax(-1)[0]
    values, indices = probs.topk(5)
    report = classify(path, [PHOTO], top=5)
    top = report["top"][0]
    assert [r["index"] for r in top] == indices.tolist()
    assert max(abs(r["probability"] - v) for r, v in zip(top, values.tolist(), strict=True)) <= 1e-6
    assert top[0]["label"] and report["num_classes"] == 1000


@pytest.mark.parametrize("kind", ["finetuned", "linprobe"])
def test_compare_official_passes_on_official_checkpoints(checkpoints, kind):
    path, _ = checkpoints[kind]
    result = CliRunner().invoke(app, ["compare-official", "--weights", str(path), "--official-src", str(FIXTURE_SRC),
                                      "--image", str(PHOTO), "--resize", "eval", "--grad", "--json"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    data = json.loads(result.stdout)
    assert data["passed"] and data["reference"] == "official" and data["classifier"]
    forward = [s for s in data["stages"] if not s["stage"].startswith("grad")]
    assert [s["stage"] for s in forward][-3:] == ["features", "logits", "loss"]
    assert all(s["max_abs"] == 0 for s in forward)  # bit-identical on the same machine
    assert any(s["stage"].startswith("grad") for s in data["stages"])


def test_compare_official_fails_on_a_planted_difference(checkpoints, tmp_path):
    clone = tmp_path / "clone"
    shutil.copytree(FIXTURE_SRC, clone)
    source = (clone / "models_vit.py").read_text()
    planted = source.replace("x[:, 1:, :].mean(dim=1)", "x.mean(dim=1)")  # global pool including the cls token
    assert planted != source
    (clone / "models_vit.py").write_text(planted)
    result = CliRunner().invoke(app, ["compare-official", "--weights", str(checkpoints["finetuned"][0]),
                                      "--official-src", str(clone), "--batch", "1", "--json"])
    assert result.exit_code == 1, (result.stdout, result.stderr)
    data = json.loads(result.stdout)
    assert data["first_failure"] == "features"
    assert all(s["passed"] for s in data["stages"] if s["stage"].startswith("blocks."))


@pytest.mark.parametrize("kw", [dict(global_pool=True), dict(global_pool=False), dict(linear_probe=True)])
def test_timm_bit_identical_and_hf_where_it_can(kw):
    torch.manual_seed(0)
    model = create_model("vit_base_patch16", img_size=32, embed_dim=64, depth=2, num_heads=4, num_classes=10, **kw)
    with torch.no_grad():
        (model.head[-1] if kw.get("linear_probe") else model.head).weight.normal_()
    imgs = torch.randn(2, 3, 32, 32)
    timm = compare_classifier_official(model, imgs, reference="timm", grad=True)
    assert timm["passed"] and all(s["max_abs"] == 0 for s in timm["stages"])
    official = compare_classifier_official(model, imgs, reference="official", official_src=FIXTURE_SRC, grad=True)
    assert official["passed"] and all(s["max_abs"] == 0 for s in official["stages"])
    if kw == dict(global_pool=False):  # transformers: cls token + Linear only; separate q/k/v (a few ulps)
        hf = compare_classifier_official(model, imgs, reference="hf", grad=True)
        assert hf["passed"], hf["first_failure"]
    else:
        from official_mae import ReferenceUnavailable

        with pytest.raises(ReferenceUnavailable, match="cannot express"):
            compare_classifier_official(model, imgs, reference="hf")


def test_convert_to_timm_and_transformers_load_in_those_libraries(checkpoints, tmp_path):
    import timm
    import transformers

    from mae_core.finetune import convert_classifier

    path, official = checkpoints["finetuned"]
    x = OFFICIAL_EVAL(PIL.Image.open(PHOTO).convert("RGB")).unsqueeze(0)
    data = convert_classifier(path, tmp_path / "timm.pth", "timm")
    assert data["passed"] and data["tensors_bit_exact"] == data["tensors"]
    model = timm.models.vision_transformer.VisionTransformer(global_pool="avg", fc_norm=True, num_classes=1000,
                                                             norm_layer=partial(torch.nn.LayerNorm, eps=1e-6))
    model.load_state_dict(torch.load(tmp_path / "timm.pth", weights_only=True))  # strict: every key, every shape
    with torch.no_grad():
        assert torch.equal(model.eval()(x), official(x))
    cls = _official_model(False)
    cls.head, cls.fc_norm, cls.global_pool = cls.head, torch.nn.Identity(), False
    cls_sd = {k: v for k, v in cls.state_dict().items() if not k.startswith("fc_norm")}
    cls_sd.update({"norm.weight": torch.ones(768), "norm.bias": torch.zeros(768)})
    torch.save({"model": cls_sd}, tmp_path / "cls.pth")
    data = convert_classifier(tmp_path / "cls.pth", tmp_path / "hf", "hf")
    assert data["passed"]
    hf = transformers.ViTForImageClassification.from_pretrained(tmp_path / "hf").eval()
    ours = create_model("vit_base_patch16", global_pool=False).eval()
    ours.load_state_dict(cls_sd)
    with torch.no_grad():
        diff = (hf(pixel_values=x).logits - ours(x)).abs().max().item()
    assert diff <= 1e-4  # separate q/k/v products: a few float32 ulps of the logits


def _cli(*args):
    return CliRunner().invoke(app, ["compare-official", *map(str, args)])


def test_seeded_classifier_timm_and_perturbed_and_hf_refusal():
    result = _cli("--variant", "vit_base_patch16", "--reference", "timm", "--batch", "1", "--json")
    assert result.exit_code == 0, result.stderr
    assert all(s["max_abs"] == 0 for s in json.loads(result.stdout)["stages"])
    result = _cli("--variant", "vit_base_patch16", "--reference", "timm", "--batch", "1",
                  "--perturb", "blocks.3.mlp.fc2.bias", "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)["first_failure"] == "blocks.3"
    result = _cli("--variant", "vit_base_patch16", "--reference", "hf", "--batch", "1")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "cannot express global pooling" in lines[0]


@pytest.mark.parametrize("linear_probe", [False, True], ids=["finetune", "linprobe"])
def test_the_official_classifier_step_saves_what_the_closed_form_says(linear_probe):
    """Memory of the official fine-tuning / linear-probing step, not only ours: the official models_vit.py
    (drop path 0.1, label smoothing; or main_linprobe.py's frozen encoder and BatchNorm head, cross-entropy)
    keeps for backward exactly the bytes mae_core.views.memory_classifier predicts (saved_tensors_hooks)."""
    from mae_core.recipe import label_smoothing_cross_entropy
    from mae_core.views import memory_classifier as cmem
    from mae_core.views.memory_measured import saved_bytes

    module, _ = import_official_vit(FIXTURE_SRC)
    torch.manual_seed(0)
    step = cmem.ClassifierStep("linprobe" if linear_probe else "finetune", drop_path_rate=0.0 if linear_probe else 0.1)
    model = module.vit_base_patch16(num_classes=1000, global_pool=step.global_pool,
                                    drop_path_rate=step.drop_path_rate).train()
    if linear_probe:
        model.head = torch.nn.Sequential(torch.nn.BatchNorm1d(768, affine=False, eps=1e-6), model.head)
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith("head."))
    imgs, target = torch.randn(2, 3, 224, 224), torch.tensor([3, 7])

    def forward():
        logits = model(imgs)
        if step.label_smoothing:
            return label_smoothing_cross_entropy(logits, target, step.label_smoothing)
        return torch.nn.functional.cross_entropy(logits, target)

    measured = saved_bytes(model, forward)
    assert set(measured) == {"all"}
    cfg = create_model("vit_base_patch16", device="meta").config
    assert measured["all"] == sum(s.bytes for s in cmem.saved_stages(cfg, 2, step))
