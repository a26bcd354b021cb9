"""mae_core.views: pure inspection services behind the `mae` commands.

Each module computes one kind of report from a model and returns plain data (dataclasses, dicts and
lists of numbers and strings) that the CLI renders as a table or as JSON. Import the module you need
(``from mae_core.views.params import parameter_report``); nothing is imported eagerly here, so
``import mae_core.views`` stays free.

    recorder.py one recorder for every view: hidden states, attention probabilities, masks
    features.py hidden states of every patch in patch order, and a pooled vector (`mae features`)
    attention.py    attention maps on the patch grid, rollout, the decoder's mix (`mae attention`)
    numerics.py float16 / bfloat16 against float32, stage by stage (`mae numerics`)
    prepare.py  the one input pipeline of every command that runs a model: model, images, mask, target
    params.py   parameter counts, the per-module breakdown, the check against the official listing
    variants.py the registry as the paper's table
    shapes.py   tensor shapes after each stage of the forward pass, traced with the recorder on ``meta``
    forward.py  one real forward pass, measured: loss, output statistics, latency, peak memory
    flops.py    FLOPs per stage, counted on ``meta`` and cross-checked against a closed form
    timing.py   fair timing: warm-up, alternating rounds, medians, this machine's matmul ceiling
    bench.py    `mae bench` whole: our model against the references, checked and timed
    machine.py  the CPU a figure ran on, and whether a dtype runs natively there
    demo.py     `mae mask-demo` as data: Fig. 2's rows and picture, on the pipeline's inputs
    reconstruct.py  the paper's Fig. 2: masked image and reconstruction, and which target a checkpoint predicts
    picture.py  those panels, and the attention maps, drawn as one titled PNG (Pillow, imported when drawing)
    baseline.py the paper's Table 1c / 2 baseline: mask tokens in the encoder
    memory.py   memory per stage in closed form: weights, gradients, optimizer state, saved activations,
                the inference peak, the largest batch in a budget
    memory_classifier.py  the same for the fine-tuned classifier: a fine-tuning or linear-probing step
    memory_budget.py  budgets as people write them, the memory available, fit checks (`mae memory`'s report)
    memory_measured.py  the same bytes measured on a real step (saved_tensors_hooks, live tensors)

(Named ``views``, not ``inspect``, so it never shadows the standard library's ``inspect``.)
"""
