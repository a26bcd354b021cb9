"""The closed-form memory of mae_core.views.memory against real steps, measured.

Training: the bytes autograd saves (saved_tensors_hooks, each storage once, parameters left out) equal the
closed form byte for byte, stage by stage: ViT-B/16 at batch 2 and mask 0.75, and tiny configs at several
mask ratios, precisions, channel counts, with norm_pix_loss, the fast path and the mask-tokens baseline.
Inference: the peak of live tensors equals the closed form on tiny configs, and the closed form is within
10 % of the measured peak RSS growth of a ViT-B/16 batch-8 forward pass (a subprocess; method below).
Gradients and optimizer state: the bytes torch.optim really keeps after one step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from contextlib import nullcontext

import pytest
import torch

from mae_core.config import MAEConfig
from mae_core.mae import MaskedAutoencoderViT
from mae_core.models import create_model, get_variant
from mae_core.views import memory as mem
from mae_core.views.baseline import MaskTokensInEncoder
from mae_core.views.memory_measured import live_peak, saved_bytes

TINY = MAEConfig(img_size=32, patch_size=8, in_chans=3, embed_dim=32, depth=2, num_heads=4, decoder_embed_dim=16,
                 decoder_depth=1, decoder_num_heads=2)
# Another grid, one channel, a narrow MLP (attention becomes the block's peak) and normalised targets.
ODD = MAEConfig(img_size=48, patch_size=8, in_chans=1, embed_dim=24, depth=1, num_heads=3, decoder_embed_dim=16,
                decoder_depth=2, decoder_num_heads=4, mlp_ratio=1.0, norm_pix_loss=True)
# Deeper than one block on both sides: block 0's input stays alive beside the later blocks'.
DEEP = MAEConfig(img_size=64, patch_size=8, in_chans=3, embed_dim=64, depth=3, num_heads=4, decoder_embed_dim=32,
                 decoder_depth=3, decoder_num_heads=2)
PRECISIONS = {"float32": (torch.float32, False), "bfloat16 autocast": (torch.bfloat16, True),
              "bfloat16": (torch.bfloat16, False), "float16 autocast": (torch.float16, True)}


def inputs(cfg: MAEConfig, batch: int, dtype: torch.dtype = torch.float32):
    gen = torch.Generator().manual_seed(0)
    imgs = torch.randn(batch, cfg.in_chans, cfg.img_size, cfg.img_size, generator=gen).to(dtype)
    return imgs, torch.rand(batch, cfg.num_patches, generator=gen)


def model_for(cfg: MAEConfig, dtype: torch.dtype, amp: bool, baseline: bool = False):
    torch.manual_seed(0)
    model = MaskedAutoencoderViT(cfg)
    if dtype != torch.float32 and not amp:
        model = model.to(dtype)
    return MaskTokensInEncoder(model) if baseline else model


def measured_saved(model, imgs, noise, mask_ratio, dtype, amp) -> dict[str, int]:
    def step():
        with torch.autocast("cpu", dtype=dtype) if amp else nullcontext():
            return model(imgs, mask_ratio, noise)

    return saved_bytes(model, step)


def closed_saved(cfg, batch, mask_ratio, dtype, amp, baseline=False) -> dict[str, int]:
    stages = mem.saved_stages(cfg, batch, mask_ratio, mem.precision(dtype, amp), mask_tokens_in_encoder=baseline)
    return {s.key: s.bytes for s in stages}


def test_vit_base_training_step_saves_exactly_the_closed_form():
    cfg = get_variant("base").config
    torch.manual_seed(0)
    model = create_model("base")
    imgs, noise = inputs(cfg, 2)
    got = measured_saved(model, imgs, noise, 0.75, torch.float32, False)
    expected = closed_saved(cfg, 2, 0.75, torch.float32, False)
    assert got == expected
    assert sum(got.values()) == 169_251_604  # the figure `mae memory --batch 2` prints, measured once by hand
    per_block = next(s for s in mem.saved_stages(cfg, 2, 0.75) if s.key == "encoder_blocks").per_block
    assert per_block == 2 * 50 * (8 * 768 + 2 * 3072) * 4 + 2 * 50 * (2 * 2 + 12) * 4  # 8D + 2 hidden; stats; 12 heads


@pytest.mark.parametrize("name", list(PRECISIONS))
@pytest.mark.parametrize("mask_ratio", [0.0, 0.5, 0.75, 0.9])
def test_tiny_training_step_saves_exactly_the_closed_form(name, mask_ratio):
    dtype, amp = PRECISIONS[name]
    model = model_for(TINY, dtype, amp)
    imgs, noise = inputs(TINY, 3, dtype if not amp else torch.float32)
    assert measured_saved(model, imgs, noise, mask_ratio, dtype, amp) == closed_saved(TINY, 3, mask_ratio, dtype, amp)


@pytest.mark.parametrize("name", ["float32", "bfloat16 autocast", "bfloat16"])
@pytest.mark.parametrize("baseline", [False, True], ids=["mae", "mask-tokens-in-encoder"])
def test_other_grid_channels_norm_pix_and_baseline_save_the_closed_form(name, baseline):
    dtype, amp = PRECISIONS[name]
    model = model_for(ODD, dtype, amp, baseline)
    imgs, noise = inputs(ODD, 2, dtype if not amp else torch.float32)
    got = measured_saved(model, imgs, noise, 0.6, dtype, amp)
    assert got == closed_saved(ODD, 2, 0.6, dtype, amp, baseline)


def test_fast_path_saves_the_same_bytes():
    from mae_core.kernels.fast_path import use_fast_path

    model = use_fast_path(model_for(TINY, torch.float32, False))
    imgs, noise = inputs(TINY, 2)
    assert measured_saved(model, imgs, noise, 0.75, torch.float32, False) == closed_saved(TINY, 2, 0.75, torch.float32,
                                                                                        False)


@pytest.mark.parametrize("cfg", [TINY, ODD, DEEP], ids=["tiny", "odd", "deep"])
@pytest.mark.parametrize("name", ["float32", "bfloat16", "bfloat16 autocast"])
@pytest.mark.parametrize("baseline", [False, True], ids=["mae", "mask-tokens-in-encoder"])
@pytest.mark.parametrize("mask_ratio", [0.0, 0.75])
def test_inference_peak_of_live_tensors_is_the_closed_form(cfg, name, baseline, mask_ratio):
    dtype, amp = PRECISIONS[name]
    model = model_for(cfg, dtype, amp, baseline)
    imgs, noise = inputs(cfg, 3, dtype if not amp else torch.float32)

    def step():
        with torch.autocast("cpu", dtype=dtype) if amp else nullcontext():
            return model(imgs, mask_ratio, noise)

    with torch.no_grad():
        stages = live_peak(model, step)
    pr = mem.precision(dtype, amp)
    measured = max(stages.values())
    predicted = mem.inference_peak(cfg, 3, mask_ratio, pr, mask_tokens_in_encoder=baseline)
    if not amp:  # stage by stage where the closed form and the measurement cut the forward pass alike
        closed = {s.key: s.bytes for s in mem.inference_stages(cfg, 3, mask_ratio, pr, mask_tokens_in_encoder=baseline)}
        for key in ("encoder_blocks", "decoder_blocks", "predictor", "loss"):
            assert stages[key] == closed[key], key
    if amp:  # every weight copy counted from the start: an upper bound, by at most the copies themselves
        cache = mem._autocast_cache(cfg, mem.precision(dtype, amp))
        assert predicted - cache <= measured <= predicted
    else:
        assert measured == predicted


RSS_PROBE = textwrap.dedent("""
    import ctypes, gc, json, re, statistics, sys, torch
    from mae_core.models import create_model

    def status(field):
        text = open("/proc/self/status").read()
        return int(re.search(rf"^{field}:\\s+(\\d+) kB", text, re.M).group(1)) * 1024

    # Isolate the measurement from the rest of the machine where the kernel allows it: pages locked in
    # memory (mlockall) cannot be reclaimed while the forward runs (under memory pressure the kernel
    # drops this process's mapped library pages, and the RSS then grows less than the tensors do), and
    # no transparent huge pages (2 MiB steps). Without the privilege, the repeats below still hold.
    libc = ctypes.CDLL(None, use_errno=True)
    locked = libc.mlockall(1 | 2 | 4) == 0  # MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT: resident pages only
    thp_off = libc.prctl(41, 1, 0, 0, 0) == 0  # PR_SET_THP_DISABLE
    torch.manual_seed(0)
    model = create_model("base").eval()
    imgs, noise = torch.randn(8, 3, 224, 224), torch.rand(8, 196)
    growth = []
    with torch.no_grad():
        for _ in range(6):  # the first run loads kernels and thread pools: dropped; the median of the other five
            before = status("VmRSS")
            open("/proc/self/clear_refs", "w").write("5")  # reset VmHWM (the peak RSS) to the current RSS
            out = model(imgs, 0.75, noise)
            growth.append(status("VmHWM") - before)
            del out
            gc.collect()
    print(json.dumps({"growth": growth, "median": statistics.median(growth[1:]), "locked": locked,
                      "thp_off": thp_off}))
""")


def rss_probe() -> dict:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run([sys.executable, "-c", RSS_PROBE], env=env, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc to reset the peak RSS")
def test_vit_base_inference_peak_within_10_percent_of_measured_rss_growth():
    """Method: a fresh process builds ViT-B/16 and batch-8 inputs, then runs the forward pass six times under
    no_grad; before each run the peak RSS (VmHWM) is reset to the current RSS (/proc/self/clear_refs 5), after
    it the growth is VmHWM - VmRSS. ``MALLOC_MMAP_THRESHOLD_=65536`` makes glibc give every tensor above 64 KiB
    its own mapping, returned to the system when freed, so the RSS follows the live tensors instead of the
    heap's high-water mark. The first run (lazy initialisation) is dropped; the measurement is the median of
    the other five, in a process locked in memory where allowed (see RSS_PROBE).

    Robust under load without a wider margin: the bound stays 10 % on both sides. A busy machine can only
    disturb a measurement (once, with the RSS 17 % low while the suite ran), not the model, so up to three
    fresh processes measure and the first median inside the bound passes; a closed form that is wrong by
    more than 10 % is outside it in every one of them (planted: x1.15 fails all three).
    """
    predicted = mem.inference_peak(get_variant("base").config, 8, 0.75)
    probes = []
    for _ in range(3):
        probes.append(rss_probe())
        if abs(predicted - probes[-1]["median"]) <= 0.10 * probes[-1]["median"]:
            return
    raise AssertionError(f"predicted {predicted / 2**20:.2f} MiB; measured medians "
                         f"{[round(p['median'] / 2**20, 2) for p in probes]} MiB (all runs: {probes})")


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_gradients_and_optimizer_state_are_what_torch_keeps(optimizer, dtype):
    from mae_core.views.memory_measured import _optimizer

    model = model_for(TINY, dtype, amp=False)
    imgs, noise = inputs(TINY, 2, dtype)
    opt = _optimizer(optimizer, model)
    model(imgs, 0.75, noise).loss.backward()
    opt.step()
    est = mem.estimate(TINY, 2, 0.75, mode="train", dtype=dtype, optimizer=optimizer)
    grads = sum(p.grad.nbytes for p in model.parameters() if p.grad is not None)
    state = sum(t.nbytes for s in opt.state.values() for t in s.values() if isinstance(t, torch.Tensor))
    assert (est.gradients, est.optimizer_state) == (grads, state)
    assert est.weights == sum(p.nbytes for p in model.parameters())
    assert all(p.grad is None for p in model.parameters() if not p.requires_grad)  # the sin-cos tables


def test_estimate_total_adds_up_and_the_mask_ratio_moves_it():
    cfg = get_variant("base").config
    est = mem.estimate(cfg, 4, 0.75, mode="train", optimizer="adamw")
    assert est.total == (est.weights + est.gradients + est.optimizer_state + est.images + est.saved_total
                         + est.transient)
    assert est.optimizer_state == 2 * est.gradients + 4 * mem.parameter_counts(cfg)[2]
    baseline = mem.estimate(cfg, 4, 0.75, mode="train", mask_tokens_in_encoder=True)
    assert baseline.saved_total > 1.8 * est.saved_total  # the encoder on 197 tokens instead of 50
    inference = mem.estimate(cfg, 4, 0.75, mode="inference")
    assert inference.total == inference.weights + inference.images + inference.transient
    assert inference.gradients == inference.optimizer_state == 0


def test_largest_batch_is_the_largest_that_fits():
    cfg = get_variant("base").config
    budget = 24 * 2**30
    n = mem.largest_batch_for(cfg, budget, 0.75, mode="train", optimizer="adamw")
    assert mem.estimate(cfg, n, 0.75, mode="train").total <= budget < mem.estimate(cfg, n + 1, 0.75, mode="train").total
    assert mem.largest_batch(lambda b: b <= 1000) == 1000
    assert mem.largest_batch(lambda b: False) == 0


@pytest.mark.parametrize("text, value", [("24GiB", 24 * 2**30), ("24 GB", 24 * 10**9), ("1e9", 10**9),
                                         ("512 MiB", 512 * 2**20), ("80gib", 80 * 2**30), ("1_000", 1000)])
def test_parse_bytes(text, value):
    assert mem.parse_bytes(text) == value


@pytest.mark.parametrize("text", ["-1GiB", "0", "lots", "24 XB", "24G", "nan", "inf GiB", ""])
def test_parse_bytes_refuses(text):
    with pytest.raises(ValueError):
        mem.parse_bytes(text)


def test_check_fits_refuses_with_the_estimate_and_the_largest_batch(monkeypatch):
    from mae_core.errors import MemoryBudgetError

    cfg = get_variant("base").config
    monkeypatch.setattr(mem, "available_memory", lambda device: mem.Available(2 * 2**30, "test"))
    mem.check_fits(cfg, 8, what="ViT-B/16 forward")  # fits
    fits = mem.largest_batch(lambda b: mem.estimate(cfg, b).total <= 2 * 2**30)
    with pytest.raises(MemoryBudgetError, match=f"largest batch that fits is {fits}$"):
        mem.check_fits(cfg, fits + 1, what="ViT-B/16 forward")


def test_a_non_square_image_is_counted_as_h_times_w_pixels():
    """The input batch of a (H, W) model is B x C x H x W values (issue 17's sizes reach the estimate)."""
    from mae_core.config import MAEConfig
    from mae_core.views.memory import estimate

    cfg = MAEConfig(img_size=(32, 48), patch_size=8, embed_dim=32, depth=1, num_heads=2,
                    decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2)
    assert estimate(cfg, 3).images == 3 * 3 * 32 * 48 * 4
