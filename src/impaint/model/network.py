"""The implicit inpainting model: a convolutional encoder and a coordinate MLP decoder.

Mask convention, used everywhere in the library: ``mask == 1`` marks a *known* pixel and
``mask == 0`` a *missing* one (a hole). The masked input is ``I_M = I * M``. Image files on
disk use the opposite, common convention (white = hole); only where mask files are read and
written (inference/image_read.py, the CLI, the server) is it converted.

Shapes: images (B, C, H, W) in [0, 1]; masks (B, 1, H, W); latent map Z (B, C_z, H, W);
query coordinates (B, N, 2) in [-1, 1]^2 as (x, y) = (column, row), pixel centres in the
``align_corners=False`` convention (the same as ``F.grid_sample``).

The encoder lives in encoder.py, the decoders in decoders.py and liif.py: this module puts
them together (`ImplicitInpainter`, `build_model`) and holds the single pass that fills the
holes (`compose`, `inpaint`, `inpaint_with_std`, `sample_completions`). The encoder's classes
are still importable from here.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .decoders import ConvDecoder, Decoder, pixel_centres
from .encoder import Encoder
from .encoder import FourierUnit, ResBlock  # noqa: F401  (the old path: they lived here)
from .latent import StochasticLatent
from .liif import LocalDecoder
from .unet import GatedUNet

DECODERS = {"mlp": Decoder, "conv": ConvDecoder, "liif": LocalDecoder}
RENDER_CHUNK = 2 ** 18  # queries decoded at once by `render` (bounds its memory)
SIGMA_MIN = 1e-3  # floor of the predicted σ, about a quarter of one 8-bit grey level


class ImplicitInpainter(nn.Module):
    def __init__(self, cfg: ModelConfig | None = None):
        super().__init__()
        self.cfg = cfg or ModelConfig()
        if self.cfg.decoder not in DECODERS:
            raise ValueError(f"unknown decoder {self.cfg.decoder!r}; choose from "
                             f"{sorted(DECODERS)}")
        self.encoder = Encoder(self.cfg)
        self.decoder = DECODERS[self.cfg.decoder](self.cfg)
        self.latent = None
        if self.cfg.latent_dim > 0:
            self.latent = StochasticLatent(self.cfg.width, self.cfg.channels,
                                           self.cfg.latent_dim, self.cfg.latent_stride)

    def encode(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.encode_with_kl(image, mask)[0]

    def encode_with_kl(self, image: torch.Tensor, mask: torch.Tensor):
        """(Z, KL). A stochastic model adds its latent: from the posterior while training
        (`image` is then the whole image), else the prior's mean; KL is None otherwise."""
        z = self.encoder(image, mask)
        if self.latent is None:
            return z, None
        return self.latent(z, image, posterior=self.training)

    def query(self, z: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """Decode Z at arbitrary coordinates: (B, C_z, H, W), (B, N, 2) -> (B, N, C)."""
        if isinstance(self.decoder, ConvDecoder):
            raise ValueError("a convolutional decoder renders grids only, not coordinates")
        if hasattr(self.decoder, "query"):  # a decoder with its own way to read Z (LIIF)
            return self.decoder.query(z, coords)
        # border padding: a query at the very edge of [-1, 1] reads the edge pixel's code.
        # In fp32 whatever Z's dtype: bf16 positions collapse past 256 px a side (at 2048,
        # 898 of 2048 columns, up to 1.5 px off).
        sampled = F.grid_sample(z.float(), coords.float().unsqueeze(1), mode="bilinear",
                                padding_mode="border", align_corners=False).to(z.dtype)
        # (B, C_z, 1, N)
        feats = sampled.squeeze(2).transpose(1, 2)  # (B, N, C_z)
        if self.decoder.use_coords:
            feats = torch.cat([coords.to(feats.dtype), feats], dim=-1)
        return self.decoder(feats)

    def decode_grid(self, z: torch.Tensor) -> torch.Tensor:
        """Fast path: decode at Z's own pixel centres, no interpolation. -> (B, C, H, W)."""
        if isinstance(self.decoder, ConvDecoder):
            return self.decoder(z)
        if hasattr(self.decoder, "grid"):
            return self.decoder.grid(z)
        b, _, h, w = z.shape
        feats = z.permute(0, 2, 3, 1)  # (B, H, W, C_z): the MLP becomes one batched matmul
        if self.decoder.use_coords:
            xy = pixel_centres(h, w, z.device).to(z.dtype).reshape(1, h, w, 2).expand(b, h, w, 2)
            feats = torch.cat([xy, feats], dim=-1)
        return self.decoder(feats).permute(0, 3, 1, 2)

    def decode_holes(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """`decode_grid` at the missing pixels (mask 0) -> (B, k, H, W); what it holds at
        known pixels is unspecified (0 where they were skipped).

        Inpainting keeps every known pixel, so decoding them is wasted work: on the bench's
        masks (half the pixels missing) the CPU decodes half as much, and infers 1.4x faster.
        The MLP sees each hole pixel's row exactly as `decode_grid` gives it."""
        # Convolutions (and LIIF's grid) need the whole grid. A GPU is bound by kernel
        # launches at these sizes, and the gather's host sync made it slower there (H200,
        # batch 64: 26k vs 48k img/s; equal at 1024), so it decodes every pixel.
        if type(self.decoder) is not Decoder or z.device.type != "cpu":
            return self.decode_grid(z)
        b, c, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(b * h * w, c)  # a view when Z is channels_last
        holes = (mask.reshape(b * h * w) == 0).nonzero().squeeze(1)  # (N,) row-major indices
        n = holes.numel()
        # oneDNN builds its kernels for each new matrix shape, and the hole count differs at
        # every training step: rounding N up to one of ~32 sizes per input size lets it reuse
        # them (the training loop went from 223-256 to 272-303 img/s). The extra rows repeat
        # pixel 0, and are dropped before anything reads them.
        rows = F.pad(holes, (0, -n % max(64, b * h * w // 32))) if n else holes
        feats = flat.index_select(0, rows)  # (rows, C_z)
        if self.decoder.use_coords:
            xy = pixel_centres(h, w, z.device).to(feats.dtype).index_select(0, rows % (h * w))
            feats = torch.cat([xy, feats], dim=-1)
        pred = self.decoder(feats)[:n]  # (N, k)
        out = pred.new_zeros(b * h * w, pred.shape[-1]).index_copy_(0, holes, pred)
        return out.view(b, h, w, -1).permute(0, 3, 1, 2)

    def render(self, z: torch.Tensor, height: int, width: int,
               on_chunk: Callable[[], None] | None = None) -> torch.Tensor:
        """Decode Z on a height x width grid of pixel centres (any resolution). -> (B, C, h, w).
        `on_chunk` is called after each chunk of queries (a progress bar's tick)."""
        if (height, width) == tuple(z.shape[-2:]):
            return self.decode_grid(z)
        if isinstance(self.decoder, ConvDecoder):  # no coordinates: resample Z, then decode
            return self.decoder(F.interpolate(z, size=(height, width), mode="bilinear",
                                              align_corners=False))
        coords = pixel_centres(height, width, z.device).expand(z.shape[0], -1, -1)
        # Each query is decoded on its own, so rendering in chunks gives the same pixels while
        # the MLP's activations (128 floats a query and layer) stay bounded: a 512-px photo
        # rendered at x4 through the CLI peaked at 6.3 GB in one go, 0.89 GB in chunks.
        # The chunks go straight into one output (a list of them, then a cat, held it twice).
        out = None  # (B, h*w, C)
        for i in range(0, coords.shape[1], RENDER_CHUNK):
            part = self.query(z, coords[:, i:i + RENDER_CHUNK])
            if out is None:
                out = part.new_empty(part.shape[0], coords.shape[1], part.shape[2])
            out[:, i:i + part.shape[1]] = part
            if on_chunk is not None:
                on_chunk()
        return out.transpose(1, 2).reshape(z.shape[0], -1, height, width)

    def split(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Decoder output (B, C·k, ...) -> (mean, σ); σ is None for a deterministic model.

        σ = softplus(raw) + SIGMA_MIN: positive, smooth, and bounded below so the Gaussian NLL
        cannot reward a collapsing σ on a pixel it happens to predict exactly."""
        if not self.cfg.probabilistic:
            return raw, None
        c = self.cfg.channels
        return raw[:, :c], F.softplus(raw[:, c:].float() - 3.0) + SIGMA_MIN

    def forward(self, image: torch.Tensor, mask: torch.Tensor, with_sigma: bool = False,
                with_kl: bool = False, holes_of: torch.Tensor | None = None, scale: int = 1):
        """Prediction Î_S (the mean) for every pixel, (B, C, H, W); see `compose`.

        `with_sigma=True` returns (mean, σ), σ None for a deterministic model; `with_kl=True`
        returns (mean, σ, KL), KL None without a stochastic latent. `holes_of`: a (B, 1, H, W)
        mask; only its missing pixels (0) need decoding, the rest are unspecified (see
        `decode_holes`; training passes the pixels its loss scores). `scale` > 1: rendered at
        scale x the input size, off the input's pixel grid (every pixel; `holes_of` is then
        ignored). Flags rather than other methods, so that wrappers such as DDP see every call."""
        z, kl = self.encode_with_kl(image, mask)
        if scale != 1:
            raw = self.render(z, image.shape[-2] * scale, image.shape[-1] * scale)
        else:
            raw = self.decode_grid(z) if holes_of is None else self.decode_holes(z, holes_of)
        mean, sigma = self.split(raw)
        if with_kl:
            return mean, sigma, kl
        return (mean, sigma) if with_sigma else mean

    def forward_dist(self, image: torch.Tensor, mask: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(mean, σ) for every pixel, each (B, C, H, W); σ is None if not probabilistic."""
        return self(image, mask, with_sigma=True)


def build_model(cfg: ModelConfig | None = None) -> nn.Module:
    """The model a config describes: the implicit inpainter, or the gated U-Net baseline."""
    cfg = cfg or ModelConfig()
    if cfg.arch == "unet":
        return GatedUNet(cfg)
    if cfg.arch != "implicit":
        raise ValueError(f"unknown arch {cfg.arch!r}; choose from implicit, unet")
    return ImplicitInpainter(cfg)


def downsample(images: torch.Tensor, masks: torch.Tensor, factor: int = 2
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Images area-averaged by `factor`; a low-resolution pixel is known only if its whole
    factor x factor block is known."""
    return F.avg_pool2d(images, factor), -F.max_pool2d(-masks, factor)


def compose(image: torch.Tensor, mask: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
    """Î = I_M + Î_S ⊙ (1 − M): `image` (B, C, H, W) where `mask` (B, 1, H, W) is 1 (known),
    `prediction` (B, C, H, W) elsewhere; known pixels copied bit-exactly (and immune to NaN)."""
    return torch.where(mask.bool().expand_as(image), image, prediction.to(image.dtype))


@torch.no_grad()
def inpaint(model: ImplicitInpainter, image: torch.Tensor, mask: torch.Tensor,
            scale: int = 1) -> torch.Tensor:
    """One pass of the model, as trained: fill the holes of `image` (B, 3, H, W), float32 in
    [0, 1], where `mask` (B, 1, H, W) is 0 (1 = known).

    The low level, unchecked: no input checks and no pyramid (a hole wider than the encoder's
    reach, ~60 px, comes back smeared). `impaint.inpaint` is the checked, any-size pipeline
    built on it. With ``scale == 1`` every known pixel is returned unchanged. With ``scale >
    1`` the decoder renders the whole image at the higher resolution and the known pixels,
    upsampled by nearest neighbour, are pasted back where the mask (also upsampled) says
    they are known. The model runs in eval mode and is left in the mode it was in.
    """
    return inpaint_with_std(model, image, mask, scale)[0]


@torch.no_grad()
def inpaint_with_std(model: ImplicitInpainter, image: torch.Tensor, mask: torch.Tensor,
                     scale: int = 1, on_chunk: Callable[[], None] | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`inpaint`, plus the predicted σ (B, C, H·scale, W·scale), 0 on known pixels; σ is None
    for a deterministic model. `on_chunk`: see `render` (scale > 1)."""
    training = model.training
    model.eval()
    try:
        return _one_pass(model, image, mask, scale, on_chunk)
    finally:
        model.train(training)


def _one_pass(model, image, mask, scale, on_chunk):
    """`inpaint_with_std`'s work, the model in eval mode."""
    z = model.encode(image, mask)
    h, w = image.shape[-2:]
    raw = (model.decode_holes(z, mask) if scale == 1
           else model.render(z, h * scale, w * scale, on_chunk=on_chunk))
    del z
    mean, sigma = model.split(raw)
    # In place where the tensors are this function's own: at scale x4 of a 2048-px image
    # each copy is 67 Mpx (0.8 GB a channel triple).
    pred = mean.float().clamp_(0, 1)
    if scale != 1:
        image = F.interpolate(image, scale_factor=scale, mode="nearest")
        mask = F.interpolate(mask, scale_factor=scale, mode="nearest")
    if sigma is not None:
        sigma = sigma.masked_fill_(mask.bool(), 0.0)
    return compose(image, mask, pred), sigma


@torch.no_grad()
def sample_completions(model: ImplicitInpainter, image: torch.Tensor, mask: torch.Tensor,
                       k: int, seed: int = 0) -> torch.Tensor:
    """K completions of each image: (K, B, C, H, W), known pixels bit-exact in every one.
    Needs a stochastic latent (`latent_dim` > 0): each draw of it is decoded and composed."""
    if model.latent is None:
        raise ValueError("this checkpoint has no stochastic latent (train one with "
                         "--set model.latent_dim=8)")
    if k < 1:
        raise ValueError(f"the number of samples must be positive, got {k}")
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    z0 = model.encoder(image, mask)
    out = []
    for _ in range(k):
        z, _ = model.latent(z0, image, posterior=False, generator=gen)
        mean, _ = model.split(model.decode_grid(z))
        out.append(compose(image, mask, mean.float().clamp(0, 1)))
    return torch.stack(out)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
