"""Damaged weight files of every kind end in one CheckpointError, never another exception or a warning."""

from __future__ import annotations

import random
import warnings

import pytest
import torch

from mae_core.io.weights import _LEGACY_TORCH_MAGIC, CheckpointError
from mae_core.loading.weights import read_state_dict


def _garbage(seed: int) -> bytes:
    rng = random.Random(seed)
    body = rng.randbytes(rng.randint(0, 4096))
    return (_LEGACY_TORCH_MAGIC + body) if seed % 2 else body  # half of them pass the format sniff


@pytest.mark.parametrize("suffix", [".pth", ".safetensors", ".bin"])
def test_random_bytes_are_reported_as_corrupt(tmp_path, suffix):
    path = tmp_path / f"weights{suffix}"
    for seed in range(300):
        path.write_bytes(_garbage(seed))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(CheckpointError):
                read_state_dict(path)


def test_truncated_checkpoint_is_corrupt(tmp_path):
    path = tmp_path / "cut.pth"
    torch.save({"w": torch.ones(1000)}, path)
    path.write_bytes(path.read_bytes()[:1500])
    with pytest.raises(CheckpointError, match="corrupt"):
        read_state_dict(path)


def test_legacy_format_still_loads(tmp_path):
    path = tmp_path / "old.pth"
    torch.save({"model": {"cls_token": torch.ones(1, 1, 4)}}, path, _use_new_zipfile_serialization=False)
    state_dict, fmt = read_state_dict(path)
    assert fmt == "pth" and torch.equal(state_dict["cls_token"], torch.ones(1, 1, 4))
