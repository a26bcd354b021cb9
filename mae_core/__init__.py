"""mae_core: a from-scratch, exact PyTorch Masked Autoencoder (He et al. 2021, arXiv:2111.06377).

Read it in the paper's order:
    config.py       the hyper-parameters (and the shape letters used everywhere)
    patch_embed.py  ViT Eq. 1: patches -> tokens; patchify / unpatchify
    pos_embed.py    fixed 2-D sin-cos positions
    masking.py      Sec. 3 "Masking": random masking by argsort of noise
    attention.py, mlp.py, block.py   ViT Eq. 2-3: the Transformer block
    encoder.py      Sec. 3 "MAE encoder": ViT on the visible patches only
    decoder.py      Sec. 3 "MAE decoder": mask tokens, unshuffle, light Transformer, pixel predictor
    loss.py         Sec. 3 "Reconstruction target": MSE on masked patches
    mae.py          the whole model; init.py its initialisation
    models/         the ViT-B/16, ViT-L/16 and ViT-H/14 variants and the registry

and beside the paper, the machinery:
    errors.py       every exception mae_core raises for bad input (one base: MAEError)
    io/             checkpoints (official .pth, ours, safetensors, transformers dirs) and images
    kernels/        which library computes the products (the opt-in oneDNN fast path)
    views/          the inspection services behind the `mae` commands
"""

from importlib import metadata as _metadata

from .config import MAEConfig
from .decoder import MAEDecoder
from .encoder import MAEEncoder
from .mae import MAEOutput, MaskedAutoencoderViT

try:  # one version: the installed package's metadata (pyproject.toml)
    __version__ = _metadata.version("mae-inspect")
except _metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["MAEConfig", "MAEEncoder", "MAEDecoder", "MAEOutput", "MaskedAutoencoderViT", "__version__"]
