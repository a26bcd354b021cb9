"""Reading the official golden cases (tests/data/golden, recorded with the official models_mae.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from mae_core.io.safetensors_file import read_safetensors

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
CASES = sorted(json.loads((GOLDEN / "cases.json").read_text()))


@dataclass
class GoldenCase:
    name: str
    config: dict  # official keyword arguments of MaskedAutoencoderViT
    mask_ratio: float
    state_dict: dict[str, Tensor]  # official layout
    imgs: Tensor
    noise: Tensor
    outputs: dict[str, Tensor]  # loss, pred, mask, latent, ids_restore


def load_case(name: str) -> GoldenCase:
    tensors, meta = read_safetensors(GOLDEN / f"{name}.safetensors")

    def pick(prefix: str) -> dict[str, Tensor]:
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

    return GoldenCase(
        name=name,
        config=json.loads(meta["config"]),
        mask_ratio=float(meta["mask_ratio"]),
        state_dict=pick("state_dict."),
        imgs=tensors["input.imgs"],
        noise=tensors["input.noise"],
        outputs=pick("output."),
    )
