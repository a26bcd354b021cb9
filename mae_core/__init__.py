"""mae_core: a from-scratch, exact PyTorch Masked Autoencoder (He et al. 2021, arXiv:2111.06377).

    import mae_core
    model = mae_core.create_model("base")                  # or any name of mae_core.list_models()
    loss, pred, mask = model(imgs)                          # imgs (B, 3, 224, 224) -> pred (B, 196, 768)
    weights = mae_core.load_weights("mae_visualize_vit_base.pth")   # .pth, .safetensors, transformers dir
    model = mae_core.build_model(weights.variant, weights)
    mae_core.use_fast_path(model)                           # opt-in oneDNN products (float rounding only)

Read it in the paper's order:
    config.py       the hyper-parameters (and the shape letters used everywhere)
    patch_embed.py  ViT Eq. 1: patches -> tokens; patchify / unpatchify
    pos_embed.py    fixed 2-D sin-cos positions
    masking.py      Sec. 3 "Masking": random masking by argsort of noise
    mask_strategies.py  Fig. 6 / Table 1f: block, grid, center and file masks, as noise for that argsort
    attention.py    ViT Eq. 2: multi-head self-attention, fused qkv
    mlp.py          ViT Eq. 3: Linear -> GELU -> Linear
    block.py        ViT Eq. 2-3: the pre-norm Transformer block
    encoder.py      Sec. 3 "MAE encoder": ViT on the visible patches only
    decoder.py      Sec. 3 "MAE decoder": mask tokens, unshuffle, light Transformer, pixel predictor
    loss.py         Sec. 3 "Reconstruction target": MSE on masked patches
    mae.py          Fig. 1: the whole model
    init.py         App. A.1: the official initialisation, built on meta and initialised once
    drop_path.py    App. A.1: stochastic depth for fine-tuning (training only)
    classifier.py   Sec. 4, App. A.1: the fine-tuned ViT classifier from the encoder's own parts
    finetune.py     main_finetune.py's loading: a pre-trained MAE -> a classifier; classifier checkpoints
    record.py       record points: named places in the forward a recorder reads (identity modules)
    recipe.py       App. A.1-A.3: parameter groups, layer-wise lr decay, LARS, the lr schedule, accum_iter
    models/__init__.py       Sec. 4 / Table 3: the ViT-B/16, ViT-L/16, ViT-H/14 factories by name
    models/registry.py       register_model, create_model, list_models: every variant registered once
    models/mae_vit_base.py   ViT-B/16
    models/mae_vit_large.py  ViT-L/16
    models/mae_vit_huge.py   ViT-H/14
    models/vit_classifiers.py  the classifiers: vit_base_patch16, vit_large_patch16, vit_huge_patch14

and beside the paper, the machinery:
    errors.py                 every exception mae_core raises for bad input (one base: MAEError)
    io/__init__.py            file formats and safety (knows no model): checkpoints and images in and out
    io/checkpoint.py          the official flat key layout <-> ours
    io/weights.py             weight files read safely (bounded, weights_only, dtypes checked)
    io/pickle_scan.py         the globals a pickle names, read without unpickling it
    io/hf_layout.py           transformers' ViTMAE names (v4, v5) <-> the official layout
    io/hf_vit_layout.py       transformers' ViTForImageClassification names <-> the official classifier's
    io/safetensors_file.py    .safetensors through the safetensors library (lazy safe_open)
    io/releases.py            the official checkpoints: names, URLs, kinds, published md5 prefixes
    io/images.py              images as the official demo prepares them (bit for bit); a built-in picture
    io/files.py               bounded reads and atomic writes
    kernels/__init__.py       which library computes the products
    kernels/switch.py         use_kernels(model, linear=, attention=): the one switch for the kernels
    kernels/linear.py         Linear: nn.Linear with an opt-in oneDNN product, probed per dtype
    kernels/fast_path.py      use_fast_path(model): use_kernels(model, linear="onednn")
    loading/__init__.py       a checkpoint as a model (above the model files, below the views)
    loading/weights.py        variant detection, load_weights, build_model
    loading/info.py           what a checkpoint file is (``mae checkpoint info``)
    loading/convert.py        every layout to every other, proven by re-reading (``mae checkpoint convert``)
    loading/download.py       resumable, hash-checked downloads of the releases (``mae download``)
    views/__init__.py         the inspection services behind the `mae` commands
    views/recorder.py         one recorder for every view: hidden states, attention, masks
    views/features.py         hidden states of every patch in patch order, pooled (``mae features``)
    views/attention.py        attention maps on the patch grid, rollout, the decoder's mix (``mae attention``)
    views/numerics.py         float16 / bfloat16 against float32, stage by stage (``mae numerics``)
    views/prepare.py          the one input pipeline: weights, size, images, mask, target, fit -> model, batch
    views/sizes.py            the size, channel and mask-ratio rules every sized run shares
    views/params.py           parameter counts and the official check
    views/variants.py         the registry as the paper's table
    views/shapes.py           the shape after each stage
    views/forward.py          one measured forward pass
    views/flops.py            FLOPs per stage, counted and in closed form
    views/timing.py           fair timing in alternating rounds, the matmul ceiling
    views/bench.py            timing against the references (``mae bench``)
    views/machine.py          the CPU a figure ran on; whether a dtype runs natively
    views/memory.py           memory per stage in closed form, the largest batch
    views/memory_classifier.py  the same for a fine-tuning or linear-probing step
    views/memory_budget.py    budgets, available memory, fit checks (``mae memory``)
    views/memory_measured.py  the same bytes measured on a real step
    views/baseline.py         Table 1c / 2: mask tokens in the encoder
    views/demo.py             ``mae mask-demo`` as data: the rows and the picture of Fig. 2
    views/reconstruct.py      Fig. 2: masked image and reconstruction
    views/picture.py          those panels as one PNG; the attention picture, its colour map
    views/sweep.py            Fig. 5: loss against mask ratio and mask strategy
    views/recipe.py           App. A.1-A.3: a stage's groups, lr and schedule on meta (``mae recipe``), its plot
    views/plot.py             a line chart drawn with Pillow (the sweep's and the recipe's PNG)
    views/classify.py         a fine-tuned classifier's top-k ImageNet-1k classes (``mae classify``)
    data/imagenet1k_classes.txt  the 1000 ImageNet-1k class names
"""

from importlib import metadata as _metadata

from .config import MAEConfig
from .decoder import MAEDecoder
from .encoder import MAEEncoder
from .errors import MAEError
from .loading.weights import LoadedWeights, build_model, load_weights
from .kernels.fast_path import use_fast_path
from .mae import MAEOutput, MaskedAutoencoderViT
from .models import create_model, list_models, register_model

try:  # one version: the installed package's metadata (pyproject.toml)
    __version__ = _metadata.version("mae-inspect")
except _metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "MAEConfig", "MAEEncoder", "MAEDecoder", "MAEOutput", "MaskedAutoencoderViT", "MAEError",
    "create_model", "list_models", "register_model", "load_weights", "build_model", "LoadedWeights",
    "use_fast_path", "__version__",
]
