"""Convert a checkpoint between layouts, then prove it: the service behind ``mae checkpoint convert``.

Paper: none (engineering). Targets:

    official     ``.pth`` holding ``{'model': state_dict}`` with the official flat names (models_mae.py)
    ours         ``.pth`` holding our ``encoder.* / decoder.*`` state dict (``MaskedAutoencoderViT``)
    safetensors  ``.safetensors`` with the official names (metadata: layout, variant)
    hf           a transformers ViTMAE directory: ``config.json`` + ``model.safetensors`` (v5 names, or v4
                 with ``hf_version="v4"``), for ``ViTMAEForPreTraining.from_pretrained`` (``ViTMAEModel``
                 for an encoder-only file)
    timm         ``.pth`` holding the encoder alone under timm's ``VisionTransformer`` names (the official
                 encoder names are timm's), for ``timm.create_model("vit_base_patch16_224", num_classes=0)``

After writing, OUT is read back with the same loader as every ``--weights`` and checked: every tensor
bit-equal to what was meant to be written, and a forward of the model built from OUT equal (bit for bit)
to one built from IN, on the same seeded image and masking noise (with ``dtype``, IN rounded the same
way). IN is never overwritten; every file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import CheckpointError
from ..io import checkpoint, hf_layout
from ..io.files import atomic_paths, atomic_write, check_output_folder, check_outputs, show_path
from ..io.safetensors_file import save_safetensors, write_safetensors
from ..io.weights import DECODER_KEYS, check_tensors
from .weights import build_model, load_weights

TARGETS = ("official", "ours", "safetensors", "hf", "timm")
HF_FILES = ("model.safetensors", "config.json")  # what --to hf writes into its folder
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def hf_config(variant: str, has_decoder: bool, norm_pix_loss: bool) -> dict[str, Any]:
    """``config.json`` of a transformers ViTMAE directory for ``variant`` (official eps, exact GELU)."""
    from ..models import get_variant

    c = get_variant(variant).config
    return {
        "architectures": ["ViTMAEForPreTraining" if has_decoder else "ViTMAEModel"], "model_type": "vit_mae",
        "image_size": c.img_size, "patch_size": c.patch_size, "num_channels": c.in_chans,
        "hidden_size": c.embed_dim, "num_hidden_layers": c.depth, "num_attention_heads": c.num_heads,
        "intermediate_size": int(c.embed_dim * c.mlp_ratio), "hidden_act": "gelu", "layer_norm_eps": c.ln_eps,
        "qkv_bias": True, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
        "decoder_hidden_size": c.decoder_embed_dim, "decoder_num_hidden_layers": c.decoder_depth,
        "decoder_num_attention_heads": c.decoder_num_heads,
        "decoder_intermediate_size": int(c.decoder_embed_dim * c.mlp_ratio),
        "mask_ratio": 0.75, "norm_pix_loss": bool(norm_pix_loss), "initializer_range": 0.02,
    }


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def convert(src: str | Path, dst: str | Path, to: str, *, dtype: str = "float32", hf_version: str = "v5",
            variant: str | None = None, norm_pix_loss: bool | None = None, seed: int = 0) -> dict[str, Any]:
    """Write ``src`` as ``to`` at ``dst``, re-read it and check it; returns what was done and checked.

    The returned ``passed`` is False when a re-read tensor or the forward differs (the caller exits 1).
    """
    if to not in TARGETS:
        raise CheckpointError(f"conversion target {to!r} is unknown; use one of {', '.join(TARGETS)}")
    if dtype not in DTYPES:
        raise CheckpointError(f"dtype {dtype!r} is not supported; use {', '.join(DTYPES)}")
    src, dst = Path(src), Path(dst)
    inside = src.is_dir() and dst.resolve().is_relative_to(src.resolve())
    if _same_file(src, dst) or src.resolve() == dst.resolve() or inside:
        raise CheckpointError(f"output {show_path(dst)} is the input; choose another path (the input is never "
                              "overwritten)")
    if to == "hf":  # each file of the folder is checked against every input file, before any work
        check_output_folder(dst, HF_FILES, "output", [src])
    else:
        check_outputs([(dst, "output")], [src])
    loaded = load_weights(src, variant)
    name = loaded.variant
    norm_pix = bool(loaded.hints.get("norm_pix_loss")) if norm_pix_loss is None else norm_pix_loss
    target_dtype = DTYPES[dtype]
    official = {k: v.to(target_dtype).contiguous() for k, v in loaded.state_dict.items()}
    notes = list(loaded.notes)
    if to == "timm":
        dropped = [k for k in official if k.startswith(DECODER_KEYS)]
        official = {k: v for k, v in official.items() if k not in dropped}
        if dropped:
            notes.append(f"timm's VisionTransformer is the encoder alone: the decoder's {len(dropped)} tensors are "
                         "not written")
    expected = _write(official, dst, to, name=name, has_decoder=loaded.has_decoder and to != "timm",
                      norm_pix=norm_pix, hf_version=hf_version)

    back = load_weights(dst, name)  # the same loader as every --weights
    reread = _reread_raw(dst, to, hf_version)
    mismatched = [k for k, v in expected.items() if k not in reread or reread[k].dtype != v.dtype
                  or not torch.equal(reread[k], v)]
    extra = [k for k in reread if k not in expected]
    forward = _forward_check(loaded, back, target_dtype, seed, decoder=to != "timm")
    passed = not mismatched and not extra and forward["equal"]
    return {
        "input": str(src), "output": str(dst), "to": to, "dtype": dtype, "variant": name,
        "hf_version": hf_version if to == "hf" else None, "has_decoder": loaded.has_decoder and to != "timm",
        "norm_pix_loss": norm_pix, "tensors": len(expected), "tensors_bit_exact": len(expected) - len(mismatched),
        "mismatched": mismatched[:20], "unexpected": extra[:20], "forward": forward, "passed": passed,
        "bytes": sum(f.stat().st_size for f in dst.iterdir()) if dst.is_dir() else dst.stat().st_size,
        "notes": notes,
    }


def _write(official: dict[str, Tensor], dst: Path, to: str, *, name: str, has_decoder: bool, norm_pix: bool,
           hf_version: str) -> dict[str, Tensor]:
    """Write ``official`` as ``to``; returns the tensors under the names the file holds."""
    if to == "official":
        with atomic_write(dst, what="output checkpoint") as f:
            torch.save({"model": official}, f)
        return official
    if to == "ours":
        ours = checkpoint.official_to_ours(official)
        with atomic_write(dst, what="output checkpoint") as f:
            torch.save(ours, f)
        return ours
    if to == "timm":
        with atomic_write(dst, what="output checkpoint") as f:
            torch.save(official, f)
        return official
    if to == "safetensors":
        write_safetensors(dst, official, {"format": "pt", "layout": "official", "variant": name})
        return official
    hf = hf_layout.official_to_hf(official, hf_version)
    if not has_decoder:  # a bare ViTMAEModel: no "vit." prefix
        hf = {k.removeprefix("vit."): v for k, v in hf.items()}
    if dst.exists() and not dst.is_dir():
        raise CheckpointError(f"output {show_path(dst)} is a file; a transformers checkpoint is a directory: pass a "
                              "new folder name")
    if not dst.parent.is_dir():
        raise CheckpointError(f"output {show_path(dst)}: folder {show_path(dst.parent)} does not exist; "
                              "create it first")
    made = not dst.exists()
    try:
        dst.mkdir(parents=False, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(f"cannot write output {show_path(dst)}: {(exc.strerror or type(exc).__name__).lower()}"
                              "; choose a writable folder") from None
    try:  # the pair together: a failure leaves a folder's old config.json and weights as they were
        with atomic_paths([dst / name_ for name_ in HF_FILES], what="output") as (weights_tmp, config_tmp):
            save_safetensors(weights_tmp, hf, {"format": "pt"})
            config_tmp.write_text(json.dumps(hf_config(name, has_decoder, norm_pix), indent=2) + "\n", encoding="utf-8")
    except BaseException:
        if made:  # nothing half-made: the folder this call created goes with its files
            for name_ in HF_FILES:
                with contextlib.suppress(OSError):
                    (dst / name_).unlink()
            with contextlib.suppress(OSError):
                dst.rmdir()
        raise
    return hf


def _reread_raw(dst: Path, to: str, hf_version: str) -> dict[str, Tensor]:
    """OUT's tensors under the names it holds, read back from disk."""
    from ..io.safetensors_file import read_safetensors

    if to == "hf":
        return read_safetensors(dst / "model.safetensors")[0]
    if to == "safetensors":
        return read_safetensors(dst)[0]
    obj = torch.load(dst, map_location="cpu", weights_only=True)
    return obj["model"] if to == "official" else obj


def _forward_check(src, out, dtype: torch.dtype, seed: int, *, decoder: bool) -> dict[str, Any]:
    """Forward models built from IN (rounded to ``dtype``) and from OUT on one seeded image and noise."""
    from ..io.images import builtin_image, normalize

    if dtype != torch.float32:
        rounded, _, _ = check_tensors({k: v.to(dtype) for k, v in src.state_dict.items()}, src.path)
        src = type(src)(**{**src.__dict__, "state_dict": rounded})
    a = build_model(src.variant, src, seed=seed).eval()
    b = build_model(out.variant, out, seed=seed).eval()
    cfg = a.config
    imgs = normalize([builtin_image(cfg.img_size)])
    noise = torch.rand(1, cfg.num_patches, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        if decoder:
            ya, yb = a(imgs, noise=noise).pred, b(imgs, noise=noise).pred
            what = "pred"
        else:
            ya, yb = a.forward_encoder(imgs, 0.75, noise)[0], b.forward_encoder(imgs, 0.75, noise)[0]
            what = "latent"
    return {"compared": what, "equal": bool(torch.equal(ya, yb)), "max_abs_diff": float((ya - yb).abs().max())}
