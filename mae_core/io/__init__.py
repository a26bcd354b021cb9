"""Getting tensors and images in and out of the model: the machinery beside the paper's files.

    checkpoint.py       the official flat key layout <-> our ``encoder.*`` / ``decoder.*`` layout
    weights.py          safe weight-file loading (``weights_only=True``, bounded, dtypes checked), variant
                        detection, build + load
    pickle_scan.py      the globals a pickle names, read without unpickling (why a file is refused)
    hf_layout.py        transformers' ViTMAE parameter names (v4 and v5) <-> the official layout
    hf_vit_layout.py    transformers' ViTForImageClassification names <-> the official classifier's
    safetensors_file.py ``.safetensors`` files through the ``safetensors`` library (lazy ``safe_open``)
    files.py            bounded reads of regular files only; atomic writes
    images.py           images prepared as the official demo does (bit for bit), presets, size checks

Nothing is imported eagerly, so ``import mae_core.io`` costs nothing.
"""
