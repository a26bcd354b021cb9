"""Kernel choices: which library computes the matrix products, never what is computed.

    linear.py     ``Linear``: an ``nn.Linear`` (same parameters, same state dict) whose float32 CPU
                  products can run on oneDNN instead of the default ``F.linear``
    fast_path.py  ``use_fast_path(model)``: the opt-in switch for a whole model

The paper's files (attention, mlp, decoder) build their layers from ``Linear`` so that one switch can
change the kernels; by default it *is* ``F.linear``, bit-equal to the official model.
"""
