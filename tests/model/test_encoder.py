import pytest
import torch

from impaint.model import ImplicitInpainter, ModelConfig, count_parameters
from tests.helpers import TINY


def test_half_resolution_blocks_are_wider_through_1x1_transitions():
    model = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=2))
    widths = [b.conv1.in_channels for b in model.encoder.blocks]
    assert widths == [8, 12, 12]  # strides (1, 2, 2): full resolution, then half
    assert model.encoder.down.weight.shape == (12, 8, 1, 1)
    assert model.encoder.up.weight.shape == (8, 12, 1, 1)
    z = model.encode(torch.rand(2, 3, 16, 16), torch.ones(2, 1, 16, 16))
    assert z.shape == (2, 8, 16, 16)  # Z keeps the full-resolution width


def test_checkpoints_from_before_coarse_width_keep_one_width():
    old = {k: v for k, v in ModelConfig(width=88).to_dict().items() if k != "coarse_width"}
    cfg = ModelConfig.from_dict(old)
    assert cfg.coarse_width == 0
    model = ImplicitInpainter(cfg)
    assert [b.conv1.in_channels for b in model.encoder.blocks] == [88, 88, 88]
    assert count_parameters(model) == 483_531  # the seed's 88-channel model, as shipped before


def test_odd_sizes_work_through_the_half_resolution_blocks():
    model = ImplicitInpainter(TINY)
    assert model(torch.rand(1, 3, 15, 21), torch.ones(1, 1, 15, 21)).shape == (1, 3, 15, 21)


def test_an_odd_side_shifts_nothing_far_from_it():
    """The encoder is local: a row added at the bottom changes no latent far above it. The
    half-resolution map is upsampled by 2 and cropped: resized to an odd side, its cells were
    shifted over the whole image (0.3-0.4 dB of fill on odd sizes with the shipped model)."""
    from impaint import load_model
    from impaint.data.masks import make_mask

    model = load_model("general")  # the stochastic latent's upsampling: below
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 67, 81, generator=g)
    mask = make_mask("random", p=0.5)(67, 81, g)[None, None]
    with torch.no_grad():
        z = {h: model.encode(image[..., :h, :], mask[..., :h, :]) for h in (64, 65, 66, 67)}
    for h in (65, 66, 67):
        assert torch.allclose(z[h][..., :16, :], z[64][..., :16, :], atol=1e-6), h
    with torch.no_grad():
        w = {w: model.encode(image[..., :64, :w], mask[..., :64, :w]) for w in (80, 81)}
    assert torch.allclose(w[81][..., :, :16], w[80][..., :, :16], atol=1e-6)
    latent = ImplicitInpainter(ModelConfig(**{**TINY.to_dict(), "latent_dim": 2})).latent
    zs = {h: latent(torch.rand(1, TINY.width, 68, 64, generator=torch.Generator()
                                .manual_seed(1))[..., :h, :], None, posterior=False)[0]
          for h in (64, 65)}
    assert torch.allclose(zs[65][..., :40, :], zs[64][..., :40, :], atol=1e-6)


def test_fourier_blocks_see_the_whole_image_and_keep_every_size():
    from dataclasses import replace

    torch.manual_seed(0)
    plain, spectral = (ImplicitInpainter(replace(TINY, fourier=f)) for f in (False, True))
    assert [b.spectral is not None for b in spectral.encoder.blocks] == [False, True, True]
    assert plain.state_dict().keys() < spectral.state_dict().keys()  # old checkpoints load
    mask = torch.ones(1, 1, 96, 96)
    image = torch.rand(1, 3, 96, 96)
    far = image.clone()
    far[..., 90:, 90:] = 1 - far[..., 90:, 90:]  # a change 80 px away from pixel (4, 4)
    for model, sees in ((plain, False), (spectral, True)):
        z, z_far = model.encode(image, mask), model.encode(far, mask)
        assert bool((z[..., :8, :8] != z_far[..., :8, :8]).any()) is sees
    with torch.autocast("cpu", torch.bfloat16):  # the FFT itself runs in fp32
        out = spectral(torch.rand(2, 3, 15, 21), torch.ones(2, 1, 15, 21))
    assert out.shape == (2, 3, 15, 21) and torch.isfinite(out).all()


@pytest.mark.parametrize("changes, grid", [({}, 2), ({"strides": (1, 2, 4)}, 4),
                                           ({"latent_dim": 4}, 4),
                                           ({"latent_dim": 4, "latent_stride": 3}, 6)])
def test_a_crop_on_the_models_grid_pools_as_the_whole_image(changes, grid):
    """`ModelConfig.grid`: a crop whose corner is a multiple of it gives the whole image's Z
    away from its edges (tiles rely on it); half a grid off, the pooled cells move."""
    from dataclasses import replace

    torch.manual_seed(0)
    model = ImplicitInpainter(replace(TINY, **changes)).eval()
    assert model.cfg.grid == grid
    if model.latent is not None:
        torch.nn.init.normal_(model.latent.inject.weight, std=1.0)  # make the latent matter
    image = torch.rand(1, 3, 192, 192, generator=torch.Generator().manual_seed(1))
    inner = slice(80, 112)  # beyond the view (stride 4 blocks: ~60 px) of every crop's edge
    with torch.no_grad():
        whole = model.encode(image, torch.ones(1, 1, 192, 192))[..., inner, inner]
        for top, same in ((12, True), (12 + grid // 2, False)):
            z = model.encode(image[..., top:, top:], torch.ones(1, 1, 192 - top, 192 - top))
            moved = slice(inner.start - top, inner.stop - top)
            gap = (z[..., moved, moved] - whole).abs().max()
            assert (gap < 1e-5) if same else (gap > 1e-4)
    assert replace(TINY, arch="unet").grid == 4  # the U-Net halves twice
