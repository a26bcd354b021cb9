"""Patch embedding, and the patchify / unpatchify pair the loss and the pictures use.

Paper: ViT Eq. 1 (split the image into p x p patches, flatten, project linearly to D);
MAE Sec. 3 "Reconstruction target" (the decoder predicts each patch's p*p*C pixels).

Shapes:
    PatchEmbed:  (B, C, H, W) -> (B, L, D)
    patchify:    (B, C, H, W) -> (B, L, p*p*C)   pixels of a patch ordered (row, column, channel)
    unpatchify:  (B, L, p*p*C) -> (B, C, H, W)
"""

from __future__ import annotations

from torch import Tensor, nn


class PatchEmbed(nn.Module):
    """ViT Eq. 1: a p x p convolution with stride p is a linear map applied to every patch.

    Args:
        img_size: H = W in pixels, or (H, W); both multiples of ``patch_size``.
        patch_size: p.
        in_chans: C.
        embed_dim: D.
    """

    def __init__(self, *, img_size: int | tuple[int, int] = 224, patch_size: int = 16, in_chans: int = 3,
                 embed_dim: int = 768):
        super().__init__()
        H, W = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        if H % patch_size or W % patch_size:
            raise ValueError(f"image size {H}x{W} is not a multiple of the patch size {patch_size}")
        self.img_size = (H, W)
        self.patch_size = patch_size
        self.grid_size = (H // patch_size, W // patch_size)  # (h, w)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)  # official key name

    def forward(self, imgs: Tensor) -> Tensor:
        B, C, H, W = imgs.shape
        if (H, W) != self.img_size:
            raise ValueError(
                f"image is {H}x{W} px but the model was built for {self.img_size[0]}x{self.img_size[1]}; "
                "resize the input or build the model with img_size set to its size"
            )
        x = self.proj(imgs)  # (B, D, h, w)
        return x.flatten(2).transpose(1, 2)  # (B, L, D), patches in raster order


def patchify(imgs: Tensor, patch_size: int) -> Tensor:
    """Cut images into flattened patches, the decoder's target layout.

    Within a patch the pixels run row by row, then column, then channel, as in the official code,
    so that a prediction trained there lines up pixel for pixel here.

    Args:
        imgs: (B, C, H, W) with H and W multiples of ``patch_size``.
        patch_size: p.

    Returns:
        (B, L, p*p*C) with L = (H/p) * (W/p).
    """
    B, C, H, W = imgs.shape
    p = patch_size
    if H % p or W % p:
        raise ValueError(f"image {H}x{W} is not divisible into {p}x{p} patches")
    h, w = H // p, W // p
    x = imgs.reshape(B, C, h, p, w, p)
    x = x.permute(0, 2, 4, 3, 5, 1)  # (B, h, w, p, p, C)
    return x.reshape(B, h * w, p * p * C)


def unpatchify(patches: Tensor, patch_size: int, in_chans: int = 3, grid: tuple[int, int] | None = None) -> Tensor:
    """Inverse of :func:`patchify`.

    Args:
        patches: (B, L, p*p*C).
        patch_size: p.
        in_chans: C.
        grid: (h, w) patch grid; ``None`` means square, h = w = sqrt(L).

    Returns:
        (B, C, h*p, w*p).
    """
    B, L, P = patches.shape
    p, C = patch_size, in_chans
    if P != p * p * C:
        raise ValueError(f"patch vectors have {P} values, expected p*p*C = {p}*{p}*{C} = {p * p * C}")
    if grid is None:
        side = int(round(L**0.5))
        if side * side != L:
            raise ValueError(f"{L} patches do not form a square grid; pass grid=(h, w)")
        grid = (side, side)
    h, w = grid
    if h * w != L:
        raise ValueError(f"grid {h}x{w} does not hold {L} patches")
    x = patches.reshape(B, h, w, p, p, C)
    x = x.permute(0, 5, 1, 3, 2, 4)  # (B, C, h, p, w, p)
    return x.reshape(B, C, h * p, w * p)
