"""Reading the official golden cases (tests/data/golden, recorded with the official models_mae.py), and the
bound they are held to across machines (``official_mae.compare.ACROSS_MACHINES``, docs/fidelity.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from mae_core.io.safetensors_file import read_safetensors
from official_mae.compare import ACROSS_MACHINES, tensor_diff

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


def assert_recorded(name: str, ours: Tensor, recorded: Tensor, tol=ACROSS_MACHINES) -> None:
    """``ours`` within ``tol`` of the recorded official output (float32 rounding of another machine)."""
    ours = ours.reshape(recorded.shape)
    diff = tensor_diff(ours, recorded)[0]
    assert diff <= tol.bound(recorded), f"{name}: max abs diff {diff:.3g} > {tol.bound(recorded):.3g} ({tol})"
