"""docs/paper_to_code.md tells the truth: every number in its tables is recomputed here.

The guide's tables are parsed as Markdown. Each variant is built on the ``meta`` device (shapes only,
no memory) and traced through one forward pass with hooks; every shape cell, every symbolic shape
(evaluated with the variant's sizes), every parameter count and every formula must agree. Every link
must point to an existing file and every function or class named beside a link must exist in it.
The official quirks the guide lists are checked on tiny models.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch

import mae_core.attention
from mae_core.loss import masked_mse_loss, normalize_patches
from mae_core.masking import num_visible, random_masking
from mae_core.models import VARIANTS, create_model
from mae_core.pos_embed import sincos_1d, sincos_2d
from mae_core.views.recorder import record

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "paper_to_code.md"
BATCH = 7  # a batch size that appears nowhere else in the shapes, so "B" cannot be confused with a size
TITLES = {v.title: v.name for v in VARIANTS.values()}  # "ViT-B/16" -> "mae_vit_base_patch16"


# --- parsing the Markdown ---------------------------------------------------------------------------

@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    line: int  # 1-based line of the header, for messages


def parse_tables(text: str) -> list[Table]:
    """Every pipe table in ``text`` (no escaped pipes are used in the guide)."""
    tables: list[Table] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and re.match(r"^\|[\s:|-]+\|$", lines[i + 1]):
            header = _cells(lines[i])
            rows = []
            j = i + 2
            while j < len(lines) and lines[j].startswith("|"):
                rows.append(_cells(lines[j]))
                j += 1
            tables.append(Table(header, rows, i + 1))
            i = j
        else:
            i += 1
    return tables


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _key(cell: str) -> str:
    """A row's key: its first cell without the backticks."""
    return cell.strip().strip("`")


@lru_cache(maxsize=None)
def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def variant_tables(first_column: str) -> list[Table]:
    """Tables whose first column is ``first_column`` and which have one column per variant."""
    found = [t for t in parse_tables(doc_text()) if t.header[0] == first_column and set(TITLES) <= set(t.header)]
    assert found, f"no table with first column {first_column!r} and columns {sorted(TITLES)} in {DOC}"
    return found


# --- tracing a real model -----------------------------------------------------------------------------

@dataclass
class Trace:
    model: torch.nn.Module
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    symbols: dict[str, int] = field(default_factory=dict)  # the letters the guide's formulas use


@lru_cache(maxsize=None)
def trace(name: str) -> Trace:
    """Build ``name`` on meta and record the shape of every tensor the guide lists."""
    model = create_model(name, device="meta")
    enc, dec = model.encoder, model.decoder
    t = Trace(model)
    s = t.shapes

    def keep(key: str) -> Callable:
        def hook(module, args, output):
            s[key] = tuple((output[0] if isinstance(output, tuple) else output).shape)
        return hook

    def record_input(key: str) -> Callable:
        def hook(module, args):
            s[key] = tuple(args[0].shape)
        return hook

    handles = [
        enc.patch_embed.proj.register_forward_hook(keep("patch_embed.proj(imgs)")),
        enc.patch_embed.register_forward_hook(keep("patch_embed(imgs)")),
        enc.blocks[0].register_forward_pre_hook(record_input("encoder block input")),
        enc.blocks[0].attn.qkv.register_forward_hook(keep("encoder attn.qkv(x)")),
        enc.blocks[0].mlp.fc1.register_forward_hook(keep("encoder mlp.fc1(x)")),
        enc.register_forward_hook(keep("latent")),
        dec.embed.register_forward_hook(keep("decoder.embed(latent)")),
        dec.blocks[0].register_forward_pre_hook(record_input("decoder block input")),
        dec.blocks[0].attn.qkv.register_forward_hook(keep("decoder attn.qkv(x)")),
        dec.blocks[0].mlp.fc1.register_forward_hook(keep("decoder mlp.fc1(x)")),
        dec.pred.register_forward_hook(keep("decoder.pred(x)")),
    ]
    H, W = enc.patch_embed.img_size  # (H, W), as timm's PatchEmbed keeps it
    imgs = torch.empty(BATCH, enc.patch_embed.proj.in_channels, H, W, device="meta")
    # The recorder reads the masking (record point encoder.visible, its input is x + pos_embed) and
    # every block's attention probabilities (the explicit path, only while recording): no name is replaced.
    with record(model, attention=True) as rec:
        loss, pred, mask = model(imgs, mask_ratio=0.75)
    for h in handles:
        h.remove()
    s["x + pos_embed"] = tuple(enc.add_positions(rec.stages["encoder.patch_embed"]).shape)  # the encoder's own step
    for key in ("visible", "ids_keep", "ids_restore", "mask"):
        s[key] = tuple(getattr(rec.masking, key).shape)
    for part, block in (("encoder", enc.blocks[0]), ("decoder", dec.blocks[0])):
        qkv, heads = s[f"{part} attn.qkv(x)"], block.attn.num_heads
        s[f"{part} q, k, v"] = (qkv[0], heads, qkv[1], qkv[2] // 3 // heads)  # qkv split as (B, T, 3, heads, hd)
        s[f"{part} attention scores"] = tuple(rec.attention[f"{part}.blocks.0.attn"].shape)
    attention_calls = list(rec.attention)

    depth = len(enc.blocks)
    assert len(attention_calls) == depth + len(dec.blocks)
    s["imgs"] = tuple(imgs.shape)
    s["pred"] = tuple(pred.shape)
    s["loss"] = tuple(loss.shape)
    s["unpatchify(pred)"] = tuple(model.unpatchify(pred).shape)
    s["patchify(imgs)"] = s["target = patchify(imgs)"] = tuple(model.patchify(imgs).shape)
    s["encoder.pos_embed"] = tuple(enc.pos_embed.shape)
    s["decoder.pos_embed"] = tuple(dec.pos_embed.shape)
    s["encoder.cls_token"] = tuple(enc.cls_token.shape)
    s["decoder.mask_token"] = tuple(dec.mask_token.shape)
    n_mask_tokens = s["decoder block input"][1] - s["decoder.embed(latent)"][1]
    s["mask tokens"] = (BATCH, n_mask_tokens, dec.mask_token.shape[-1])

    L, L_keep = s["patch_embed(imgs)"][1], s["visible"][1]
    t.sizes = {
        "H = W": H if H == W else (H, W),
        "C": enc.patch_embed.proj.in_channels,
        "p": enc.patch_embed.proj.kernel_size[0],
        "h = w": s["patch_embed.proj(imgs)"][-1],
        "L": L,
        "L_keep": L_keep,
        "L - L_keep": n_mask_tokens,
        "p*p*C": dec.pred.out_features,
        "D": enc.norm.normalized_shape[0],
        "depth": depth,
        "heads": enc.blocks[0].attn.num_heads,
        "hd": s["encoder q, k, v"][-1],
        "4*D": enc.blocks[0].mlp.fc1.out_features,
        "D_dec": dec.norm.normalized_shape[0],
        "decoder depth": len(dec.blocks),
        "decoder heads": dec.blocks[0].attn.num_heads,
        "hd_dec": s["decoder q, k, v"][-1],
        "4*D_dec": dec.blocks[0].mlp.fc1.out_features,
    }
    assert enc.patch_embed.proj.stride == enc.patch_embed.proj.kernel_size  # non-overlapping patches
    z = t.sizes
    t.symbols = dict(B=BATCH, C=z["C"], H=z["H = W"], W=z["H = W"], p=z["p"], h=z["h = w"], w=z["h = w"],
                     L=L, L_keep=L_keep, D=z["D"], depth=depth, heads=z["heads"], hd=z["hd"],
                     D_dec=z["D_dec"], hd_dec=z["hd_dec"])
    return t


def evaluate(expression: str, symbols: dict[str, int]):
    """Evaluate a shape or formula written with the guide's letters, e.g. ``(B, 1 + L_keep, D)``."""
    assert re.fullmatch(r"[\w\s()+*,/-]*", expression), f"not a plain formula: {expression!r}"
    value = eval(expression, {"__builtins__": {}}, dict(symbols))  # noqa: S307 (guarded by the regex)
    return tuple(value) if isinstance(value, tuple) else value


def count(module: torch.nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def resolve_module(model: torch.nn.Module, key: str) -> torch.nn.Module | torch.Tensor:
    """``encoder.blocks[i]`` -> model.encoder.blocks[0]; ``decoder.mask_token`` -> the Parameter."""
    obj = model
    for part in key.replace("[i]", ".0").split("."):
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    return obj


# --- the tests ---------------------------------------------------------------------------------------

SHAPE_KEYS = {
    "imgs", "patch_embed.proj(imgs)", "patch_embed(imgs)", "patchify(imgs)", "encoder.pos_embed",
    "decoder.pos_embed", "x + pos_embed", "visible", "ids_keep", "ids_restore", "mask", "encoder.cls_token",
    "encoder block input", "encoder attn.qkv(x)", "encoder q, k, v", "encoder attention scores",
    "encoder mlp.fc1(x)", "latent", "decoder.embed(latent)", "decoder.mask_token", "mask tokens",
    "decoder block input", "decoder attn.qkv(x)", "decoder q, k, v", "decoder attention scores",
    "decoder mlp.fc1(x)", "decoder.pred(x)", "pred", "unpatchify(pred)", "target = patchify(imgs)", "loss",
}


def test_the_guide_lists_every_traced_tensor_and_no_unknown_one():
    keys = [_key(row[0]) for t in variant_tables("tensor") for row in t.rows]
    assert len(keys) == len(set(keys)), "a tensor is listed twice"
    assert set(keys) == SHAPE_KEYS, (
        f"missing from the guide: {sorted(SHAPE_KEYS - set(keys))}; "
        f"unknown to this test: {sorted(set(keys) - SHAPE_KEYS)}"
    )


@pytest.mark.parametrize("title", sorted(TITLES))
def test_shape_tables_match_the_model(title):
    tr = trace(TITLES[title])
    for table in variant_tables("tensor"):
        col = table.header.index(title)
        shape_col = table.header.index("shape")
        for row in table.rows:
            key = _key(row[0])
            actual = tr.shapes[key]
            cell = row[col]
            assert re.fullmatch(r"\((B|\d+)?(, (B|\d+))*\)", cell), f"{key}: {cell!r} is not a concrete shape"
            assert evaluate(cell, tr.symbols) == actual, (
                f"{title} {key}: the guide says {cell}, the model gives {actual}")
            formula = row[shape_col].strip("`")
            assert evaluate(formula, tr.symbols) == actual, (
                f"{title} {key}: formula {formula} gives {evaluate(formula, tr.symbols)}, the model {actual}"
            )


@pytest.mark.parametrize("title", sorted(TITLES))
def test_sizes_table_matches_the_model(title):
    tr = trace(TITLES[title])
    (table,) = variant_tables("symbol")
    col = table.header.index(title)
    keys = [_key(row[0]) for row in table.rows]
    assert set(keys) == set(tr.sizes), f"rows {sorted(set(keys) ^ set(tr.sizes))} differ from what the test computes"
    for row in table.rows:
        key = _key(row[0])
        assert int(row[col]) == tr.sizes[key], f"{title} {key}: the guide says {row[col]}, the model {tr.sizes[key]}"
    # The guide's definitions hold too.
    z = tr.sizes
    assert z["h = w"] == z["H = W"] // z["p"] and z["L"] == z["h = w"] ** 2
    assert z["L_keep"] == int(z["L"] * (1 - 0.75)) and z["p*p*C"] == z["p"] ** 2 * z["C"]
    assert z["hd"] == z["D"] // z["heads"] and z["hd_dec"] == z["D_dec"] // z["decoder heads"]


@pytest.mark.parametrize("title", sorted(TITLES))
def test_parameter_table_matches_the_model(title):
    tr = trace(TITLES[title])
    (table,) = variant_tables("parameters in")
    col, what = table.header.index(title), table.header.index("what")
    numbers = {}
    for row in table.rows:
        key = _key(row[0])
        stated = int(row[col].replace(",", ""))
        numbers[key] = stated
        if key == "all":
            actual = count(tr.model)
        elif key == "trainable":
            actual = count(tr.model, trainable_only=True)
        else:
            obj = resolve_module(tr.model, key)
            actual = obj.numel() if isinstance(obj, torch.Tensor) else count(obj)
        assert stated == actual, f"{title} {key}: the guide says {row[col]}, the model has {actual:,}"
        formula = re.match(r"^`([^`]+)`", row[what])
        if formula:
            assert evaluate(formula.group(1), tr.symbols) == actual, f"{title} {key}: formula {formula.group(1)}"
    for part in ("encoder", "decoder"):
        rows = [k for k in numbers if k.startswith(part + ".") and not k.endswith("[i]")]
        assert sum(numbers[k] for k in rows) == numbers[part], f"{part} rows do not add up"
    assert numbers["encoder"] + numbers["decoder"] == numbers["all"]
    fixed = tr.model.encoder.pos_embed.numel() + tr.model.decoder.pos_embed.numel()
    assert numbers["all"] - fixed == numbers["trainable"]


# Every "[`path`](../path) `Name`, `Name.attr` (`attribute`)" reference names something that exists.
LINK = re.compile(r"\[`([^`]+)`\]\(\.\./([^)#]+)\)")


def code_references() -> list[tuple[str, list[str], list[str]]]:
    """(path, names, attributes) for each link in a "code" or "where" column."""
    refs = []
    for table in parse_tables(doc_text()):
        for column in ("code", "where"):
            if column not in table.header:
                continue
            col = table.header.index(column)
            for row in table.rows:
                for segment in row[col].split(";"):
                    link = LINK.search(segment)
                    assert link, f"line {table.line}: {segment!r} has no [`path`](../path) link"
                    assert link.group(1) == link.group(2), f"link text {link.group(1)} != target {link.group(2)}"
                    rest = segment[link.end():]
                    attributes = re.findall(r"\(`(\w+)`\)", rest)
                    names = re.findall(r"`([\w.]+)`", re.sub(r"\(`\w+`\)", "", rest))
                    refs.append((link.group(2), names, attributes))
    return refs


def test_linked_functions_and_classes_exist():
    refs = code_references()
    assert len(refs) > 30
    for path, names, attributes in refs:
        file = ROOT / path
        assert file.is_file(), f"{path} does not exist"
        module = importlib.import_module(path.removesuffix(".py").removesuffix("/__init__").replace("/", "."))
        source = file.read_text(encoding="utf-8")
        for name in names:
            obj = module
            for part in name.split("."):
                assert hasattr(obj, part), f"{path} has no {name}"
                obj = getattr(obj, part)
        for attribute in attributes:
            assert re.search(rf"self\.{attribute}\b|^\s+{attribute}\s*:", source, re.M), (
                f"{path} never sets {attribute!r}"
            )


def test_every_relative_link_points_to_a_file():
    targets = re.findall(r"\]\((\.\./[^)#]+)\)", doc_text())
    assert targets
    for target in targets:
        assert (DOC.parent / target).resolve().exists(), f"broken link {target}"


# --- the quirks table is true ------------------------------------------------------------------------

def test_sincos_table_puts_columns_first_and_zero_cls_row():
    table = sincos_2d(8, 2, cls_token=True)  # rows: cls, (0,0), (0,1), (1,0), (1,1) as (row, column)
    assert torch.equal(table[0], torch.zeros(8))
    cls_free = table[1:]
    # Moving one column to the right changes only the first half; one row down only the second half.
    assert not torch.equal(cls_free[1, :4], cls_free[0, :4]) and torch.equal(cls_free[1, 4:], cls_free[0, 4:])
    assert torch.equal(cls_free[2, :4], cls_free[0, :4]) and not torch.equal(cls_free[2, 4:], cls_free[0, 4:])


def test_sincos_puts_all_sines_before_all_cosines():
    table = sincos_1d(4, np.array([1.0]))  # frequencies 10000^0 = 1 and 10000^(-1/2) = 0.01
    np.testing.assert_allclose(table[0], [math.sin(1), math.sin(0.01), math.cos(1), math.cos(0.01)], rtol=1e-12)


def test_masking_keeps_the_smallest_noise_and_marks_removed_with_one():
    x = torch.arange(8.0).view(1, 8, 1)
    noise = torch.tensor([[0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4]])
    out = random_masking(x, 0.5, noise)
    assert out.ids_keep.tolist() == [[1, 3, 5, 7]]  # ascending noise: small is keep
    assert out.mask.tolist() == [[1, 0, 1, 0, 1, 0, 1, 0]]  # 0 keep, 1 remove, original order
    assert torch.equal(torch.argsort(noise, dim=1)[0][out.ids_restore[0]], torch.arange(8))


def test_visible_count_truncates():
    assert num_visible(196, 0.75) == 49 and num_visible(256, 0.75) == 64
    assert num_visible(196, 0.9) == 19 and round(196 * 0.1) == 20


def test_loss_ignores_the_visible_patches():
    pred, target = torch.randn(2, 6, 12), torch.randn(2, 6, 12)
    mask = torch.tensor([[1.0, 0, 1, 0, 0, 1], [0, 1, 1, 0, 1, 0]])
    changed = pred + (1 - mask).unsqueeze(-1) * 100.0  # move only the visible patches
    assert torch.equal(masked_mse_loss(pred, target, mask), masked_mse_loss(changed, target, mask))


def test_norm_pix_target_uses_unbiased_variance_plus_1e_6():
    t = torch.randn(3, 5, 12, dtype=torch.float64)
    n = t.shape[-1]
    mean = t.sum(-1, keepdim=True) / n
    unbiased = ((t - mean) ** 2).sum(-1, keepdim=True) / (n - 1)
    torch.testing.assert_close(normalize_patches(t), (t - mean) / torch.sqrt(unbiased + 1e-6), rtol=1e-12, atol=1e-12)


def test_patch_projection_is_xavier_as_a_linear_and_its_bias_keeps_the_conv_default():
    torch.manual_seed(0)
    model = create_model("base", img_size=32, patch_size=8, embed_dim=64, depth=1, num_heads=4,
                         decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=4)
    proj = model.encoder.patch_embed.proj
    fan_in, fan_out = proj.weight[0].numel(), proj.weight.shape[0]  # 192, 64
    xavier = math.sqrt(6 / (fan_in + fan_out))
    conv_default = 1 / math.sqrt(fan_in)  # also the bound of Conv2d's default weight init
    assert conv_default < 0.8 * xavier <= proj.weight.abs().max() <= xavier
    assert 0 < proj.bias.abs().max() <= conv_default
    others = [m.bias for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert all(torch.count_nonzero(b) == 0 for b in others)


@pytest.mark.parametrize("title", sorted(TITLES))
def test_every_layernorm_uses_eps_1e_6_and_qkv_has_a_bias(title):
    model = trace(TITLES[title]).model
    norms = [m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert norms and all(m.eps == 1e-6 for m in norms)
    assert all(m.qkv.bias is not None for m in model.modules() if isinstance(m, mae_core.attention.Attention))


def test_learn_page_links_point_to_files():
    page = ROOT / "docs" / "learn.md"
    text = page.read_text(encoding="utf-8")
    section = text[text.index("<!-- BEGIN learn -->"):text.index("<!-- END learn -->")]
    targets = [t for t in re.findall(r"\]\(([^)#]+)\)", section) if "://" not in t]
    assert len(targets) >= 10
    for target in targets:
        assert (page.parent / target).exists(), f"docs/learn.md: broken link {target}"
    assert "docs/learn.md" in (ROOT / "README.md").read_text(encoding="utf-8"), "the README links to it"
