"""Helpers of the reference tests: paths, golden cases, seeded inputs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from mae_core.config import MAEConfig
from mae_core.io.safetensors_file import read_safetensors

DATA = Path(__file__).resolve().parents[1] / "data"
FIXTURE_SRC = DATA / "official_fixture"
GOLDEN = DATA / "golden"
GOLDEN_CASES = sorted(json.loads((GOLDEN / "cases.json").read_text()))


@dataclass
class Golden:
    name: str
    config: MAEConfig
    mask_ratio: float
    state_dict: dict[str, Tensor]
    imgs: Tensor
    noise: Tensor
    outputs: dict[str, Tensor]


def load_golden(name: str) -> Golden:
    tensors, meta = read_safetensors(GOLDEN / f"{name}.safetensors")

    def pick(prefix: str) -> dict[str, Tensor]:
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

    return Golden(name, MAEConfig(**json.loads(meta["config"])), float(meta["mask_ratio"]), pick("state_dict."),
                  tensors["input.imgs"], tensors["input.noise"], pick("output."))


def seeded_images(batch: int, size: int, seed: int = 0) -> Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))
