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
    mae.py          the whole model; init.py its initialisation; checkpoint.py official key layout
    models/         the ViT-B/16, ViT-L/16 and ViT-H/14 variants and the registry
"""

from .config import MAEConfig
from .decoder import MAEDecoder
from .encoder import MAEEncoder
from .mae import MAEOutput, MaskedAutoencoderViT

__version__ = "0.1.0"

__all__ = ["MAEConfig", "MAEEncoder", "MAEDecoder", "MAEOutput", "MaskedAutoencoderViT", "__version__"]
