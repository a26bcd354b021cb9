"""``mae mask-demo`` as data: the paper's Fig. 2 for the pipeline's images, the rows, the picture.

Paper: MAE Fig. 2 / Fig. 3 (masked input, reconstruction, reconstruction + visible), Sec. 3 "Masking"
and "Reconstruction target". The tensors come from :func:`mae_core.views.reconstruct.reconstruct`, the
PNG from :func:`mae_core.views.picture.demo_picture`; the inputs (model, images, noise, target) from
:func:`mae_core.views.prepare.prepare`.

Shapes: imgs (B, C, H, W) -> per image the mask on the (h, w) patch grid (1 = masked), the loss, and one
picture row of panels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..patch_embed import patchify
from .reconstruct import Reconstruction, TargetHint, reconstruct, target_fit, target_hint


def reconstruct_checked(prep: Any) -> tuple[Reconstruction, TargetHint | None]:
    """:func:`reconstruct` on a :class:`~mae_core.views.prepare.Prepared` (its noise, its target), and, for a
    trained decoder, a :class:`TargetHint` when the predictions fit the other target far better."""
    rec = reconstruct(prep.model, prep.imgs, mask_ratio=prep.plan.mask_ratio, noise=prep.plan.noise,
                      norm_pix_loss=prep.norm_pix_loss)
    hint = None
    if prep.trained_decoder:
        hint = target_hint(target_fit(rec.pred, patchify(prep.imgs, prep.config.patch_size)), prep.norm_pix_loss)
    return rec, hint


def demo_rows(prep: Any, rec: Reconstruction, output: str) -> list[dict[str, Any]]:
    """One row per image: its name, the mask on the patch grid (1 = masked), the counts and the loss."""
    rows = []
    for i, name in enumerate(prep.inputs):
        masked = int(rec.mask[i].sum())
        rows.append({"index": i, "image": name, "mask": rec.grid[i].tolist(),
                     "visible": prep.config.num_patches - masked, "masked": masked, "loss": float(rec.loss[i]),
                     "output": output})
    return rows


def demo_header(prep: Any) -> str:
    """The picture's title line: the model, the weights (and whether the decoder is trained), the mask, the seed."""
    plan = prep.plan
    if prep.loaded is None:
        source = f"random init, seed {prep.seed} (untrained)"
    elif not prep.loaded.has_decoder:
        source = f"{Path(prep.weights).name} (encoder only: untrained decoder)"
    else:
        source = Path(prep.weights).name
    target = " | norm_pix_loss" if prep.norm_pix_loss else ""
    how = "" if plan.strategy == "random" else f" ({plan.strategy})"
    return f"MAE {prep.title} | {source} | mask ratio {plan.mask_ratio:g}{how} | noise seed {prep.seed}{target}"


def demo_report(prep: Any, rec: Reconstruction, path: str | Path, *, notes: list[str], header: str | None = None,
                follow_symlink: bool = False) -> dict[str, Any]:
    """Draw and write the picture (:func:`mae_core.views.picture.demo_picture`; ``header``: its title line,
    default :func:`demo_header`) and return the report."""
    from .picture import demo_picture

    cfg, plan = prep.config, prep.plan
    picture, panels = demo_picture(prep, rec, header or demo_header(prep), path, follow_symlink=follow_symlink)
    return {
        "variant": prep.variant, "title": prep.title, "weights": prep.weights,
        "trained_decoder": prep.trained_decoder, "norm_pix_loss": prep.norm_pix_loss,
        "norm_pix_loss_from": prep.norm_pix_loss_from,
        "loss_space": "per-patch normalised pixels" if prep.norm_pix_loss else "ImageNet-normalised pixels",
        "mask_ratio": plan.mask_ratio, "mask_strategy": plan.strategy, "mask_file": plan.mask_file,
        "img_size": cfg.to_dict()["img_size"], "in_chans": cfg.in_chans, "seed": prep.seed,
        "patch_size": cfg.patch_size, "grid": list(cfg.grid_size), "num_patches": cfg.num_patches,
        "mask_convention": "1 = masked (hidden), 0 = visible", "output": str(path),
        "picture_size": list(picture.size), "panels": panels, "notes": list(notes),
        "images": demo_rows(prep, rec, str(path)),
    }


def demo_notes(prep: Any, hint: TargetHint | None) -> list[str]:
    """What a person should know about the picture: the position tables' notes, the weights' (what the loader
    noticed; no weights or no decoder: what the reconstruction panels then show; the target's space), the
    mask's, and a hint when the predictions fit the other target better."""
    from ..models import get_variant

    notes = [*prep.model.pos_embed_notes, *weights_notes(prep.loaded, prep.weights, prep.seed,
                                                  prep.norm_pix_loss, prep.norm_pix_loss_from,
                                                  get_variant(prep.variant).short), *prep.plan.notes]
    if hint:
        notes.append(f"hint: {hint.message}; try {'--norm-pix-loss' if hint.norm_pix_loss else '--raw-pix'}")
    return notes


def weights_notes(loaded, weights: str | Path | None, seed: int, norm_pix: bool, source: str, short: str) -> list[str]:
    # What the loader noticed about the file (layout conversions, config.json settings), except its own
    # "no decoder" note, which is said below together with what the picture therefore shows.
    notes = [note for note in (loaded.notes if loaded else []) if "no decoder" not in note]
    if loaded is None:
        notes.append(f"no --weights: the model is the random initialisation of seed {seed}, so the reconstruction "
                     "is untrained noise that shows the layout, not what MAE learned; pass a full checkpoint such as "
                     f"the official mae_visualize_vit_{short}.pth to see real reconstructions")
    elif not loaded.has_decoder:
        notes.append(f"{weights} has no decoder weights (an encoder-only checkpoint, like the official "
                     f"mae_pretrain_vit_*.pth): the decoder is randomly initialised from seed {seed}, so the "
                     "reconstruction panels show an untrained decoder reading a trained encoder, not MAE's "
                     "reconstruction; the masked panel and the mask are still right. For real reconstructions use "
                     "mae_visualize_vit_*.pth (raw pixels) or *_full.pth (norm_pix_loss)")
    if norm_pix:
        why = {"option": "--norm-pix-loss", "config.json": "set in the checkpoint's config.json",
               "file name": "assumed from '_full' in the file name; pass --raw-pix if wrong"}.get(source, source)
        notes.append(f"predictions read as per-patch normalised pixels (norm_pix_loss, {why}): the 'prediction' panel "
                     "shows them in that normalised space (mid-grey = the patch's mean, black/white = -/+2 std); "
                     "the de-normalised panels give each masked patch a mean and std interpolated from the visible "
                     "patches only (inverse-squared-distance weights on the grid), never the hidden patch's own")
    return notes
