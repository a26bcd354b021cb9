"""The official MAE checkpoints (facebookresearch/mae), in one table: name, URL, variant, kind, hash.

Paper: none (the official README's "Pre-trained checkpoints" table and ``demo/mae_visualize.ipynb``).
The official README prints the first six hex digits of each pre-training file's md5 (8cad7c, b8b06e,
9bdbb0), FINETUNE.md those of the fine-tuned classifiers (1b25e9, 51f550, 2541f2) with their ImageNet-1k
validation accuracy (``main_finetune.py --eval``: Acc@1 83.664 / 85.952 / 86.928, Acc@5 96.530 / 97.570 /
98.088 for ViT-B / L / H; the paper's Table 3 rounds them to 83.6 / 85.9 / 86.9); files it gives no hash
for have ``md5_prefix=None``, and a download of one says so. The table is
used by ``mae download`` (what to fetch and check) and ``mae checkpoint info`` (naming a file by its hash).

Kinds:
    visualize   full model (encoder + decoder) trained on raw pixels: its reconstructions look right
    pretrain    encoder only (what fine-tuning starts from): no decoder, it cannot reconstruct
    full        encoder + decoder trained with norm_pix_loss: predicts per-patch normalised pixels
    finetune    the fine-tuned ImageNet-1k classifier (``models_vit.py``, global pool): no decoder
"""

from __future__ import annotations

from dataclasses import dataclass

BASE_URL = "https://dl.fbaipublicfiles.com/mae"
# The size bound of each kind of release, as a multiple of its float32 tensors (Release.max_bytes).
SIZE_FACTOR = {"visualize": 1, "pretrain": 1, "full": 3}
SIZE_SLACK = 16 << 20


@dataclass(frozen=True)
class Release:
    name: str  # file name, also what `mae download` takes (without .pth)
    url: str
    variant: str  # registry name
    kind: str  # "visualize", "pretrain" or "full"
    md5_prefix: str | None  # as the official README prints it; None where it prints none
    has_decoder: bool
    norm_pix_loss: bool | None  # what the decoder was trained to predict (None: no decoder)
    note: str = ""
    acc1: float | None = None  # reference ImageNet-1k top-1 (%), FINETUNE.md (classifiers only)
    acc5: float | None = None  # reference top-5 (%)
    classifier: str | None = None  # the classifier's official name (vit_base_patch16), for kind "finetune"

    @property
    def target(self) -> str:
        if self.kind == "finetune":
            return "ImageNet-1k classes (a classifier, no decoder)"
        if not self.has_decoder:
            return "no decoder (encoder only)"
        return "per-patch normalised pixels (norm_pix_loss)" if self.norm_pix_loss else "raw pixels"


_VARIANTS = {"base": "mae_vit_base_patch16", "large": "mae_vit_large_patch16", "huge": "mae_vit_huge_patch14"}
_PRETRAIN_MD5 = {"base": "8cad7c", "large": "b8b06e", "huge": "9bdbb0"}
# FINETUNE.md: md5 prefix, Acc@1, Acc@5 (ImageNet-1k val, main_finetune.py --eval), classifier name.
_FINETUNED = {"base": ("1b25e9", 83.664, 96.530, "vit_base_patch16"),
              "large": ("51f550", 85.952, 97.570, "vit_large_patch16"),
              "huge": ("2541f2", 86.928, 98.088, "vit_huge_patch14")}


def _table() -> dict[str, Release]:
    rows: list[Release] = []
    for short, variant in _VARIANTS.items():
        rows.append(Release(f"mae_visualize_vit_{short}", f"{BASE_URL}/visualize/mae_visualize_vit_{short}.pth",
                            variant, "visualize", None, True, False,
                            "the demo's checkpoint: reconstructions of raw pixels"))
    rows.append(Release("mae_visualize_vit_large_ganloss", f"{BASE_URL}/visualize/mae_visualize_vit_large_ganloss.pth",
                        _VARIANTS["large"], "visualize", None, True, False,
                        "trained with an extra GAN loss: sharper reconstructions (the demo's second model)"))
    for short, variant in _VARIANTS.items():
        rows.append(Release(f"mae_pretrain_vit_{short}", f"{BASE_URL}/pretrain/mae_pretrain_vit_{short}.pth",
                            variant, "pretrain", _PRETRAIN_MD5[short], False, None,
                            "the encoder fine-tuning starts from; no decoder"))
    for short, variant in _VARIANTS.items():
        rows.append(Release(f"mae_pretrain_vit_{short}_full", f"{BASE_URL}/pretrain/mae_pretrain_vit_{short}_full.pth",
                            variant, "full", None, True, True,
                            "encoder + decoder from pre-training with norm_pix_loss: pictures need per-patch "
                            "de-normalisation"))
    for short, variant in _VARIANTS.items():
        md5, acc1, acc5, classifier = _FINETUNED[short]
        rows.append(Release(f"mae_finetuned_vit_{short}", f"{BASE_URL}/finetune/mae_finetuned_vit_{short}.pth",
                            variant, "finetune", md5, False, None,
                            f"the fine-tuned ImageNet-1k classifier ({classifier}, global pool): Acc@1 {acc1:.3f}, "
                            f"Acc@5 {acc5:.3f} (FINETUNE.md); `mae classify` runs it", acc1, acc5, classifier))
    return {r.name: r for r in rows}


RELEASES: dict[str, Release] = _table()


def find_release(name: str) -> Release | None:
    """The release called ``name`` (with or without ``.pth``), or None."""
    return RELEASES.get(name.removesuffix(".pth"))


def match_md5(md5_hex: str) -> Release | None:
    """The release whose published md5 prefix the file's md5 starts with, or None."""
    return next((r for r in RELEASES.values() if r.md5_prefix and md5_hex.startswith(r.md5_prefix)), None)
