"""`mae compare-official`: prove, stage by stage, that our model computes what the official one does.

Paper: MAE Sec. 3 (every step of the forward pass is one row). Loads identical weights into our model
and a reference (the official source, the official composition on timm, or transformers' ViTMAE), feeds
both the same images and the same masking noise, and compares mask and ids_restore (exactly), the
patch embedding, every block's output, the latent, pred and loss (max abs / max rel difference), and with
``--grad`` every parameter's gradient. The logic lives in :mod:`official_mae.compare`; this module
gathers the options and draws the table. Exit 1 when any row fails, naming the first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from ..common import (BadInput, DebugOpt, DeviceOpt, ImgSizeOpt, InChansOpt, JsonOpt, MaskFileOpt, MaskOpt,
                      MaskRatioOpt, ResizeOpt, VerificationFailed, check_batch, check_mask_ratio, masking_plan, out,
                      progress, resolve_device, resolve_weights, run, size_overrides, size_text)


def command(
    variant: Annotated[Optional[str], typer.Option(
        "--variant", "-m", help="Model: base, large or huge (or a registry name). Default: detected from "
                                "--weights, else base.", show_default=False)] = None,
    weights: Annotated[Optional[Path], typer.Option(
        "--weights", "-w", help="Checkpoint for both models: official .pth, .safetensors, or a transformers ViTMAE "
                                "directory. None: our seeded initialisation, exported to the official layout.",
        show_default=False)] = None,
    reference: Annotated[str, typer.Option(
        "--reference", "-r", help="What to compare against: official (your clone, needs --official-src), timm (the "
                                  "official composition on timm), hf (transformers' ViTMAE), or auto: official if a "
                                  "source is given, else timm, else hf.")] = "auto",
    official_src: Annotated[Optional[Path], typer.Option(
        "--official-src", envvar="MAE_OFFICIAL_SRC", help="Folder of your facebookresearch/mae clone (holds "
                                                          "models_mae.py); imported as it is, with compatibility "
                                                          "shims, never modified.", show_default=False)] = None,
    batch: Annotated[int, typer.Option(
        "--batch", "-b", help="Number of seeded random images when no --image is given.")] = 2,
    images: Annotated[Optional[list[Path]], typer.Option(
        "--image", "-i", help="Image file to feed both models (repeat for a batch); resized to the model's size "
                              "as the official demo does (stretched, bicubic).", show_default=False)] = None,
    seed: Annotated[int, typer.Option(
        "--seed", help="Seed of the initialisation (without --weights), the masking noise and the random images.")] = 0,
    mask_ratio: MaskRatioOpt = 0.75,
    atol: Annotated[float, typer.Option(
        "--atol", help="Largest absolute difference a stage may show and still pass ...")] = 1e-5,
    rtol: Annotated[float, typer.Option(
        "--rtol", help="... plus this fraction of the reference's largest magnitude in that stage (float32 "
                       "rounding scales with it). 0: a pure absolute test.")] = 1e-6,
    grad: Annotated[bool, typer.Option(
        "--grad", help="Also compare the gradient of every parameter after loss.backward() (slower, more memory).")
    ] = False,
    norm_pix_loss: Annotated[Optional[bool], typer.Option(
        "--norm-pix-loss/--raw-pix", help="Loss on per-patch normalised pixels or raw pixels. Default: as a "
                                          "transformers config.json says, else raw.", show_default=False)] = None,
    perturb: Annotated[Optional[str], typer.Option(
        "--perturb", help="Add 0.001 to the first entry of this weight (official name, e.g. blocks.3.mlp.fc2.bias) "
                          "on the reference side only, to watch the check fail where the change first shows.",
        show_default=False)] = None,
    img_size: ImgSizeOpt = None,
    in_chans: InChansOpt = 3,
    mask: MaskOpt = "random",
    mask_file: MaskFileOpt = None,
    resize: ResizeOpt = "stretch",
    device: DeviceOpt = "cpu",
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Compare our model with the official one (or timm / transformers), stage by stage.

    With --img-size the reference is built at that size by its own code (the official constructor, timm's
    PatchEmbed, ViTMAEConfig(image_size=...)); 224-px weights load into both with the fixed position
    tables regenerated for the new grid. The official code builds square grids only: compare a
    non-square size with --reference timm."""
    run(lambda: compare(variant=variant, weights=weights, reference=reference, official_src=official_src,
                        batch=batch, images=images or [], seed=seed, mask_ratio=mask_ratio, atol=atol, rtol=rtol,
                        grad=grad, norm_pix_loss=norm_pix_loss, perturb=perturb, device=device, img_size=img_size,
                        in_chans=in_chans, mask=mask, mask_file=mask_file, resize=resize),
        render, json_out=json_out, debug=debug)


# --- compute -------------------------------------------------------------------------------------

def compare(*, variant: str | None, weights: Path | None, reference: str, official_src: Path | None, batch: int,
            images: list[Path], seed: int, mask_ratio: float, atol: float, rtol: float, grad: bool,
            norm_pix_loss: bool | None,
            perturb: str | None, device: str, img_size: str | None = None, in_chans: int = 3, mask: str = "random",
            mask_file: Path | None = None, resize: str = "stretch") -> dict[str, Any]:
    """Validate the options, run :func:`official_mae.compare.compare_official`, raise if it failed."""
    from mae_core.models import get_variant
    from mae_core.io.weights import official_shapes

    from official_mae import ReferenceUnavailable, resolve_kind
    from official_mae.compare import compare_official

    from mae_core.io.images import load_batch

    for name, value in (("--atol", atol), ("--rtol", rtol)):
        if not value >= 0:
            raise BadInput(f"{name} must be a non-negative number, got {value}")
    check_batch(batch)
    dev = resolve_device(device)
    try:
        kind = resolve_kind(reference, official_src)  # fail fast, before any model is built
    except ReferenceUnavailable as exc:
        raise BadInput(str(exc)) from None
    name, loaded = resolve_weights(variant, weights)
    overrides = size_overrides(name, img_size, in_chans, pictures=bool(images))
    cfg = get_variant(name).config.replace(**overrides)
    check_mask_ratio(mask_ratio, cfg.num_patches)
    if perturb is not None and perturb not in official_shapes(name):
        near = [k for k in official_shapes(name) if perturb.split(".")[0] in k][:3] or ["blocks.0.attn.qkv.weight"]
        raise BadInput(f"--perturb {perturb!r} is not a parameter of {name}; use an official name such as "
                       + ", ".join(near))
    imgs, described = load_batch([str(p) for p in images], cfg.img_size, batch, seed, cfg.in_chans, resize=resize)
    plan = masking_plan(mask, mask_file, cfg, imgs.shape[0], mask_ratio, seed)

    try:
        with progress(f"comparing {get_variant(name).title} with the {kind} reference"):
            data = compare_official(name, imgs, weights=loaded, reference=kind, official_src=official_src,
                                    seed=seed, mask_ratio=plan.mask_ratio, atol=atol, rtol=rtol,
                                    grad=grad, norm_pix_loss=norm_pix_loss, perturb=perturb, device=dev,
                                    overrides=overrides, noise=plan.noise)
    except ReferenceUnavailable as exc:
        raise BadInput(str(exc)) from None
    data["images"] = described
    data["size"] = size_text(cfg)
    data["mask_strategy"] = plan.strategy
    data["notes"] = data["notes"] + plan.notes
    if not data["passed"]:
        raise VerificationFailed(data, f"{data['title']} differs from the {kind} reference from stage "
                                       f"{data['first_failure']} on")
    return data


# --- render --------------------------------------------------------------------------------------

def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return "0" if x == 0 else f"{x:.2e}"


def render(data: dict[str, Any]) -> None:
    out.print(f"[bold]{data['title']}[/] ({data['variant']}) vs [bold]{data['reference']}[/]: "
              f"{data['reference_detail']}",
              highlight=False)
    strategy = "" if data.get("mask_strategy", "random") == "random" else f" ({data['mask_strategy']} mask)"
    out.print(f"weights: {data['weights']}; input: {len(data['images'])} image(s) of {data.get('size', '224 px')} "
              f"({data['images'][0]}"
              f"{', ...' if len(data['images']) > 1 else ''}); masking noise seed {data['seed']}, mask ratio "
              f"{data['mask_ratio']:g}{strategy}; loss on {'normalised' if data['norm_pix_loss'] else 'raw'} pixels",
              highlight=False)
    for note in data["notes"]:
        out.print(f"note: {note}", highlight=False)
    table = Table(title=f"stage by stage (pass: max abs diff <= {data['atol']:g} + {data['rtol']:g} x max |reference|;"
                        " masks identical)")
    table.add_column("stage", no_wrap=True)
    table.add_column("shape", no_wrap=True)
    table.add_column("max abs diff", justify="right", no_wrap=True)
    table.add_column("max rel diff", justify="right", no_wrap=True)
    table.add_column("result")
    for row in data["stages"]:
        shape = row["shape"] if isinstance(row["shape"], str) else "x".join(map(str, row["shape"])) or "scalar"
        if row["stage"] == "masking":
            verdict = "[green]identical[/]" if row["passed"] else f"[bold red]FAIL[/] {row['detail']}"
        else:
            verdict = "[green]pass[/]" if row["passed"] else f"[bold red]FAIL[/] {row['detail']}"
        table.add_row(row["stage"], shape, _num(row["max_abs"]), _num(row["max_rel"]), verdict)
    out.print(table)
    loss = data["loss"]
    out.print(f"loss: ours {loss['ours']:.8f}, reference {loss['reference']:.8f}", highlight=False)
    if data["passed"]:
        out.print(f"[bold green]PASS[/]: all {len(data['stages'])} stages agree with the {data['reference']} reference")
    else:
        out.print(f"[bold red]FAIL[/]: first diverging stage: [bold]{data['first_failure']}[/]")
