"""File formats and safety: tensors and images in and out, at the bottom of mae_core (no model imported).

Paper: none (engineering). Shapes: see each module. A checkpoint turned into a model (variant
detection, building, info, conversion, downloads) is :mod:`mae_core.loading`, above the model files.

    checkpoint.py       the official flat key layout <-> our ``encoder.*`` / ``decoder.*`` layout
    weights.py          weight files read safely (``weights_only=True``, bounded, dtypes checked)
    pickle_scan.py      the globals a pickle names, read without unpickling (why a file is refused)
    hf_layout.py        transformers' ViTMAE parameter names (v4 and v5) <-> the official layout
    hf_vit_layout.py    transformers' ViTForImageClassification names <-> the official classifier's
    safetensors_file.py ``.safetensors`` files through the ``safetensors`` library (lazy ``safe_open``)
    releases.py         the official checkpoints: names, URLs, kinds, published md5 prefixes
    files.py            bounded reads of regular files only; atomic writes
    images.py           images prepared as the official demo does (bit for bit), presets, size checks

Nothing is imported eagerly, so ``import mae_core.io`` costs nothing.
"""
