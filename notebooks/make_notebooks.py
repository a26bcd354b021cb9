"""Write the three variant notebooks (ViT-B/16, ViT-L/16, ViT-H/14) from one template.

    python3 notebooks/make_notebooks.py            # (re)write notebooks/mae_vit_{base,large,huge}.ipynb
    python3 notebooks/make_notebooks.py --check    # exit 1 if a committed notebook differs from the template

The notebooks are written without outputs (``execution_count`` null), with fixed cell ids, so the files
in git depend on this template only and a re-run produces the same bytes. Edit the template here, never
the ``.ipynb`` files: ``tests/docs/test_notebooks.py`` fails when they drift apart.

Each notebook follows the paper's order (MAE Sec. 3, Fig. 1; see ``docs/paper_to_code.md``): build the
variant, count its parameters, trace its shapes, run a forward pass step by step, show a mask and a
reconstruction, and compare with a reference implementation. Every number it shows is computed when it
runs; the Markdown cells name symbols (L, L_keep, D), never values.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class NotebookVariant:
    file: str  # notebook file name
    name: str  # registry name
    title: str  # ViT-B/16 ...
    official_checkpoint: str  # the official full checkpoint a reader may have (never downloaded here)
    note: str  # one sentence on what is special about this variant


VARIANTS = (
    NotebookVariant("mae_vit_base.ipynb", "mae_vit_base_patch16", "ViT-B/16", "mae_visualize_vit_base.pth",
                    "the smallest variant: 16-pixel patches, a 12-block encoder, and the quickest to run."),
    NotebookVariant("mae_vit_large.ipynb", "mae_vit_large_patch16", "ViT-L/16", "mae_visualize_vit_large.pth",
                    "the paper's main model (the ablations of Sec. 4.1, Table 1, use it): the same 16-pixel "
                    "patches as ViT-B/16, a wider and twice as deep encoder, and the very same decoder."),
    NotebookVariant("mae_vit_huge.ipynb", "mae_vit_huge_patch14", "ViT-H/14", "mae_visualize_vit_huge.pth",
                    "the largest variant: 14-pixel patches (a finer grid, so more patches and fewer values per "
                    "patch), a 32-block encoder. It is built once and run at batch 1 so that the notebook "
                    "stays quick on a CPU."),
)


def cells(v: NotebookVariant) -> list[tuple[str, str]]:
    """(kind, source) of every cell; ``{name}``-style placeholders are filled from ``v``."""
    fill = {"NAME": v.name, "TITLE": v.title, "CHECKPOINT": v.official_checkpoint, "NOTE": v.note}

    def md(text: str) -> tuple[str, str]:
        return "markdown", _fill(text, fill)

    def code(text: str) -> tuple[str, str]:
        return "code", _fill(text, fill)

    return [
        md("""
        # MAE {TITLE}: build, count, trace, run, see, compare

        The Masked Autoencoder (He et al. 2021, [arXiv:2111.06377](https://arxiv.org/abs/2111.06377)) in its
        {TITLE} variant, {NOTE}

        Read it beside [the paper-to-code guide](../docs/paper_to_code.md), which puts every step of the
        paper's Section 3 next to the function that does it. This notebook runs those functions:

        1. build the model (the official initialisation, or an official checkpoint if you have one);
        2. count its parameters and check them against the official model's;
        3. trace the shape of every tensor through one forward pass;
        4. run the forward pass step by step, as Fig. 1 draws it;
        5. show the mask and the reconstruction (the paper's Fig. 2);
        6. compare the output with a reference implementation given the same weights and the same mask.

        It needs the repository installed (`pip install -e ".[reference]"` at its root; the extra brings the
        reference implementations of step 6) and runs on a CPU. Nothing is downloaded. Every number below
        is computed when its cell runs.
        """),
        code("""
        import io
        import sys
        import time
        from pathlib import Path

        try:
            import mae_core
        except ImportError:  # a clone without `pip install -e .`: use the repository this notebook sits in
            sys.path.insert(0, str(Path.cwd().resolve().parent))
            import mae_core
        import torch

        from mae_core.models import get_variant

        print("mae_core", mae_core.__version__, "on torch", torch.__version__)
        VARIANT = "{NAME}"
        WEIGHTS = None  # optional: path to an official checkpoint such as "{CHECKPOINT}"
        SEED = 0  # seeds the initialisation (without WEIGHTS) and the masking noise
        MASK_RATIO = 0.75  # the paper's default (Sec. 4.1, Fig. 5)

        spec = get_variant(VARIANT)
        print(spec.title, "-", spec.name, "(official name:", spec.official_name + ")")
        print("torch", torch.__version__)
        """),
        md("""
        ## 1. Build the model

        `build_model` creates the variant from the registry (`mae_core/models/`) and either initialises it
        as the official code does, seeded (`mae_core/init.py`), or loads a checkpoint into it
        (`mae_core/io/weights.py`, `torch.load(..., weights_only=True)`). The config holds every size; the
        letters are those of the guide: `p` patch side, `L` patches, `L_keep` visible patches, `D` encoder
        width, `D_dec` decoder width.
        """),
        code("""
        from mae_core.loading.weights import build_model, load_weights

        start = time.perf_counter()
        weights = load_weights(WEIGHTS, VARIANT) if WEIGHTS else None
        model = build_model(VARIANT, weights, seed=SEED).eval()
        print(f"built {spec.title} in {time.perf_counter() - start:.1f} s",
              "from " + WEIGHTS if WEIGHTS else "with the seeded official initialisation (untrained)")
        if weights is not None:
            for note in weights.notes:
                print("note:", note)

        cfg = model.config
        L, L_keep = cfg.num_patches, cfg.num_visible(MASK_RATIO)
        sizes = {
            "image": f"{cfg.in_chans} x {cfg.img_size} x {cfg.img_size}",
            "p (patch side)": cfg.patch_size,
            "L (patches)": L,
            "L_keep (visible at mask ratio)": L_keep,
            "p*p*C (values per patch)": cfg.patch_dim,
            "D (encoder width)": cfg.embed_dim,
            "encoder blocks / heads": f"{cfg.depth} / {cfg.num_heads}",
            "D_dec (decoder width)": cfg.decoder_embed_dim,
            "decoder blocks / heads": f"{cfg.decoder_depth} / {cfg.decoder_num_heads}",
            "LayerNorm eps": cfg.ln_eps,
            "norm_pix_loss": cfg.norm_pix_loss,
        }
        for key, value in sizes.items():
            print(f"{key:<32}{value}")
        """),
        md("""
        ## 2. Count the parameters

        `parameter_report` (`mae_core/views/params.py`) counts a copy of the variant built on PyTorch's
        `meta` device (shapes, no memory) and compares every key and shape with the official model's
        listing. The count straight from the model we just built must agree. "Fixed" parameters are the two
        sin-cos position tables: stored like parameters, as in the official model, but never trained.
        """),
        code("""
        from mae_core.views.params import parameter_report

        report = parameter_report(VARIANT, depth=2)
        direct_total = sum(p.numel() for p in model.parameters())
        direct_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        assert (report.counts.total, report.counts.trainable) == (direct_total, direct_trainable)

        print(f"{'module':<24}{'kind':<14}{'parameters':>14}{'share':>9}")
        for row in report.modules:
            print(f"{'  ' * (row.depth - 1) + row.name:<24}{row.kind:<14}{row.params:>14,}{row.share:>9.1%}")
        c = report.counts
        print(f"\\ntotal {c.total:,} = encoder {c.encoder:,} + decoder {c.decoder:,}")
        print(f"trainable {c.trainable:,}, fixed {c.fixed:,}: {', '.join(report.fixed_names)}")
        if report.official is not None:
            print(f"official total {report.official.total:,}, trainable {report.official.trainable:,}:",
                  "equal, key by key" if report.verified else f"DIFFERENT: {report.mismatches}")
        """),
        md("""
        ## 3. Trace the shapes

        `shape_trace` (`mae_core/views/shapes.py`) runs one forward pass on a `meta` copy of the model
        and reads the shape of each stage from the tensor the model really produced (forward hooks, and
        a wrapper around the masking function). Identical consecutive blocks are shown as one row. Compare
        with the shape tables of the guide: the encoder works on `1 + L_keep` tokens, the decoder on
        `1 + L`.
        """),
        code("""
        from mae_core.views.shapes import shape_trace

        trace = shape_trace(VARIANT, batch=1, mask_ratio=MASK_RATIO)
        print(f"{'stage':<36}{'shape':<22}traced at")
        for stage in trace.stages:
            repeat = f" (x{stage.repeat})" if stage.repeat > 1 else ""
            print(f"{stage.stage + repeat:<36}{str(tuple(stage.shape)):<22}{stage.traced_at}")
        """),
        md("""
        ## 4. Run a forward pass, step by step

        The image is a picture drawn by the repository (`mae_core/io/images.py`), resized and normalised with
        the ImageNet mean and standard deviation as the official demo does. The masking noise is drawn
        from its own seeded generator: the `L_keep` patches with the smallest noise stay visible
        (MAE Sec. 3, "Masking"). Then the three methods of Fig. 1, under their official names:
        `forward_encoder` (visible patches only), `forward_decoder` (mask tokens, unshuffle, predict every
        patch), `forward_loss` (mean squared error on the masked patches only).
        """),
        code("""
        from mae_core.io.images import normalize, builtin_image
        from mae_core.views.reconstruct import masking_noise

        image = builtin_image(cfg.img_size)  # uint8 (H, W, 3)
        x = normalize([image])  # (1, C, H, W), ImageNet-normalised
        noise = masking_noise(1, L, SEED)  # (1, L)

        start = time.perf_counter()
        with torch.no_grad():
            latent, mask, ids_restore = model.forward_encoder(x, MASK_RATIO, noise)
            pred = model.forward_decoder(latent, ids_restore)
            loss = model.forward_loss(x, pred, mask)
        seconds = time.perf_counter() - start

        for label, tensor in [("input x", x), ("latent", latent), ("mask", mask), ("ids_restore", ids_restore),
                              ("pred", pred), ("loss", loss)]:
            print(f"{label:<12}{str(tuple(tensor.shape)):<20}{tensor.dtype}")
        assert latent.shape == (1, 1 + L_keep, cfg.embed_dim) and pred.shape == (1, L, cfg.patch_dim)
        assert int(mask.sum()) == L - L_keep
        print(f"\\n{int(mask.sum())} of {L} patches masked, loss {loss.item():.4f}, forward {seconds:.2f} s on CPU")
        """),
        md("""
        The mask on the patch grid (`#` visible, `.` masked), in raster order: row `i`, column `j` is patch
        `i * w + j`.
        """),
        code("""
        grid = mask.reshape(cfg.grid_size)  # (h, w)
        print("\\n".join(" ".join("." if m else "#" for m in row.tolist()) for row in grid))
        """),
        md("""
        ## 5. The mask and the reconstruction

        `reconstruct` (`mae_core/views/reconstruct.py`) runs the model once more with the same noise and
        builds the panels of the paper's Fig. 2; `render` (`mae_core/views/picture.py`) draws them with Pillow, the
        picture `mae mask-demo` writes. Without `WEIGHTS` the model is untrained, so its reconstruction is
        noise: set `WEIGHTS` to the official `{CHECKPOINT}` (trained on raw pixels) to see what the
        paper shows. Checkpoints trained with `norm_pix_loss` (`*_full.pth`) predict per-patch normalised
        pixels, which `reconstruct` de-normalises from the visible patches only.
        """),
        code("""
        from IPython.display import Image, display

        from mae_core.io.images import denormalize
        from mae_core.views.picture import render, to_uint8
        from mae_core.views.reconstruct import reconstruct, reconstruction_target

        hints = weights.hints if weights is not None else {}  # e.g. norm_pix_loss from a config.json
        norm_pix, _ = reconstruction_target(None, Path(WEIGHTS).name if WEIGHTS else None, hints)
        rec = reconstruct(model, x, mask_ratio=MASK_RATIO, noise=noise, norm_pix_loss=norm_pix)
        assert torch.equal(rec.mask, mask) and torch.equal(rec.pred, pred)  # the same forward as above

        panels = [[to_uint8(denormalize(t)[0]) for t in (x, rec.masked, rec.reconstruction, rec.pasted)]]
        titles = [["original", f"masked ({int(mask.sum())}/{L})", "reconstruction", "reconstruction + visible"]]
        trained = weights is not None and weights.has_decoder
        header = f"{spec.title}, mask ratio {MASK_RATIO}: " + ("trained weights" if trained else "untrained model")
        buffer = io.BytesIO()
        render(panels, titles, header=header).save(buffer, format="PNG")
        display(Image(data=buffer.getvalue()))
        """),
        md("""
        ## 6. Compare with a reference

        The reference is another implementation of the same model, given the same weights (ours, exported
        under the official key names by `model.official_state_dict()` and shared, not copied), the same
        image and the same noise: your clone of the official source if `$MAE_OFFICIAL_SRC` names one,
        else the official composition rebuilt on timm's `PatchEmbed` and `Block`, else transformers'
        ViTMAE (`official_mae/`). `compare_models` runs both and compares every stage, block by block:
        the masks must be identical and every tensor within `SAME_MACHINE` (the same-machine bound of the
        fidelity contract, docs/fidelity.md: atol + rtol x max |reference|; the exact path measures 0).
        This is what `mae compare-official` prints.
        """),
        code("""
        import warnings

        from official_mae import ReferenceUnavailable, load_reference
        from official_mae.compare import SAME_MACHINE, compare_models

        warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm, imported by timm (lazily), in Jupyter
        start = time.perf_counter()
        try:
            reference = load_reference("auto", VARIANT, state_dict=model.official_state_dict())
        except ReferenceUnavailable as exc:  # timm / transformers not installed: pip install -e ".[reference]"
            reference = None
            print("no reference to compare with:", exc)

        if reference is not None:
            result = compare_models(model, reference, x, noise, MASK_RATIO, atol=SAME_MACHINE.atol,
                                    rtol=SAME_MACHINE.rtol)
            print(f"reference: {reference.kind}, {reference.detail} ({time.perf_counter() - start:.1f} s)\\n")
            print(f"{'stage':<20}{'shape':<18}{'max |ours - ref|':>18}  result")
            for row in result["stages"]:
                diff = "-" if row["max_abs"] is None else f"{row['max_abs']:.2e}"
                verdict = "pass" if row["passed"] else "FAIL " + row["detail"]
                print(f"{row['stage']:<20}{str(tuple(row['shape'])):<18}{diff:>18}  {verdict}")
            print(f"\\nloss: ours {result['loss']['ours']:.6f}, reference {result['loss']['reference']:.6f}")
            assert result["passed"], f"the models part ways at {result['first_failure']}"
            print(f"every stage within {SAME_MACHINE.atol:g} + {SAME_MACHINE.rtol:g} x max|ref| of the "
                  f"{reference.kind} reference: the models agree")
        """),
        md("""
        ## 7. Look inside: hidden states and attention maps

        One recorder (`mae_core/views/recorder.py`) reads what every stage computed, through forward hooks
        on the modules and on the record points of `mae_core/record.py`: nothing in the model is replaced.
        `attention=True` switches the blocks to the explicit attention path for this call only (the fused
        kernel never materialises the probabilities). The encoder attends over cls + the visible tokens in
        shuffled order; `ids_keep` says which patch each token is, so the cls token's attention can be put
        back on the patch grid (masked patches stay blank).
        """),
        code("""
        import numpy as np
        from PIL import Image as PILImage

        from mae_core.views.attention import attention_maps
        from mae_core.views.picture import heat_panel
        from mae_core.views.recorder import record

        with torch.no_grad(), record(model, attention=True) as rec:
            model(x, MASK_RATIO, noise)
        for name, tensor in list(rec.stages.items())[:6]:
            print(f"{name:<22}{str(tuple(tensor.shape)):<20}mean token norm {tensor.norm(dim=-1).mean():8.3f}")
        last = f"encoder.blocks.{cfg.depth - 1}.attn"
        probs = rec.attention[last]  # (B, heads, 1 + L_keep, 1 + L_keep)
        print(f"\\n{last}: {tuple(probs.shape)}, every row sums to 1: {torch.allclose(probs.sum(-1), torch.ones(1))}")

        maps = attention_maps(model, x, mask_ratio=MASK_RATIO, noise=noise)
        panels = [heat_panel(grid, 196)[0] for grid in (maps.cls_map(last), maps.rollout())]
        print("left: the last block's cls attention (heads averaged); right: rollout over every block")
        buffer = io.BytesIO()
        PILImage.fromarray(np.concatenate([panels[0], np.full((196, 8, 3), 255, np.uint8), panels[1]], axis=1)).save(
            buffer, format="PNG")
        display(Image(data=buffer.getvalue()))
        """),
        md("""
        ## Where next

        - [docs/paper_to_code.md](../docs/paper_to_code.md): each step of the paper beside its code, with
          these shapes for all three variants.
        - The other notebooks: [ViT-B/16](mae_vit_base.ipynb), [ViT-L/16](mae_vit_large.ipynb),
          [ViT-H/14](mae_vit_huge.ipynb).
        - The command line: `mae params`, `mae shapes`, `mae forward`, `mae mask-demo`,
          `mae compare-official`, `mae features`, `mae attention` and `mae numerics` print the same reports
          as tables or JSON (`--json`).
        """),
    ]


def _fill(text: str, values: dict[str, str]) -> str:
    text = textwrap.dedent(text).strip("\n")
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def build(v: NotebookVariant) -> nbformat.NotebookNode:
    """One notebook, without outputs, with deterministic cell ids."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    stem = v.file.removesuffix(".ipynb").replace("_", "-")
    for i, (kind, source) in enumerate(cells(v)):
        cell = nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
        cell.id = f"{stem}-{i:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render_text(v: NotebookVariant) -> str:
    return nbformat.writes(build(v)) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Exit 1 if a notebook differs from the template.")
    args = parser.parse_args(argv)
    stale = []
    for v in VARIANTS:
        path = HERE / v.file
        text = render_text(v)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(v.file)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python3 notebooks/make_notebooks.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
