"""Getting tensors and images in and out of the model: the machinery beside the paper's files.

    checkpoint.py       the official flat key layout <-> our ``encoder.*`` / ``decoder.*`` layout
    weights.py          safe weight-file loading (``weights_only=True``), variant detection, build + load
    hf_layout.py        transformers' ViTMAE parameter names (v4 and v5) <-> the official layout
    safetensors_file.py the ``.safetensors`` format, read and written
    images.py           images prepared as the official demo does (ImageNet mean/std), a built-in picture

Nothing is imported eagerly, so ``import mae_core.io`` costs nothing.
"""
