"""A finer level's refinement and tiles (inference/refine.py), through the pipeline: the band
re-filled, far holes and flat levels taking the carried-up fill, σ's growth, tiles."""

import pytest
import torch

from tests.helpers import box_mask, smooth_image
from impaint.model import ImplicitInpainter
from impaint.inference.levels import hole_distance
from impaint.inference.pipeline import inpaint_pyramid, inpaint_with_std, model_single
from impaint.inference.pyramid import Pyramid


def test_the_band_is_refined_and_the_far_hole_follows_the_coarse_fill(model):
    """The fine level re-fills only missing pixels near known ones."""
    calls = []

    def single(image, mask):
        calls.append((image.shape[-2:], int((mask == 0).sum())))
        return model_single(model)(image, mask)

    h = w = 256
    mask = box_mask(h, w, 64, 64, 128, 128)
    cfg = Pyramid(reach=8.0, band=4.0, tile=256)  # every level in one pass
    noise = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(1))
    detailed = smooth_image(h, w) + 0.5 * noise  # detail at every level: each is re-filled
    inpaint_pyramid(single, detailed, mask, cfg)
    sizes = [tuple(s) for s, _ in calls]
    assert sizes == [(32, 32), (64, 64), (128, 128), (256, 256)]
    # At full size only the band 4 px deep inside the box is missing for the model.
    assert calls[-1][1] == 128 * 128 - 120 * 120


@pytest.mark.parametrize("latent, margin, flips", [(0, 32, 1), (4, 30, 1), (0, 30, 8),
                                                   (4, 30, 8)])
def test_a_large_single_pass_runs_in_tiles_with_the_whole_pass_result(latent, margin, flips):
    """Scattered holes on an image over `pass_tile`: tiles with `margin` px of context (more
    than the encoder's view) give what one pass over the whole image gives, in bounded
    memory. (A model without the coordinate input: x is relative to the frame it is given,
    a tile's or the image's, and moves the shipped model's fill by ~0.001 dB.) A tile's edges
    sit on the model's pooling grid, 4 px with a stochastic latent (a 30-px margin put them
    2 px off it: 0.011 apart), and from the far sides too, where mirror images pool from
    (8 flips on an odd width: 0.0013 apart)."""
    from tests.helpers import STOCHASTIC

    torch.manual_seed(0)
    model = ImplicitInpainter(STOCHASTIC.__class__(**{
        **STOCHASTIC.to_dict(), "probabilistic": True, "use_coords": False,
        "latent_dim": latent})).eval()
    if latent:
        torch.nn.init.normal_(model.latent.inject.weight, std=1.0)  # make the latent matter
    calls = []

    def single(image, mask):
        calls.append(tuple(image.shape[-2:]))
        return model_single(model)(image, mask)
    single.grid = model.cfg.grid

    h, w = 150, 201
    noise = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(3))
    image = smooth_image(h, w) * 0.7 + 0.3 * noise
    mask = (torch.rand(1, 1, h, w, generator=torch.Generator().manual_seed(4)) > 0.5).float()
    cfg = Pyramid(pass_tile=64, margin=margin, flips=flips)
    tiled, tiled_sigma = inpaint_pyramid(single, image, mask, cfg)
    whole, whole_sigma = inpaint_pyramid(model_single(model), image, mask, Pyramid(flips=flips))
    assert model.cfg.grid == (4 if latent else 2)
    assert len(calls) == 3 * 4 * flips
    assert max(max(c) for c in calls) <= 64 + 2 * (margin + model.cfg.grid - 1)
    known = mask.bool().expand_as(image)
    assert torch.equal(tiled[known], image[known])
    assert (tiled - whole).abs().max() < 1e-4
    assert (tiled_sigma - whole_sigma).abs().max() < 1e-4


@pytest.mark.parametrize("order", [[0, 1], [1, 0]])
def test_an_image_with_nothing_missing_over_pass_tile_has_sigma_zero(model, order):
    """No tile holds a hole, so no pass runs: σ is 0 for a probabilistic model (it was None,
    and beside an image with σ in a batch, a crash or every image's σ dropped)."""
    g = torch.Generator().manual_seed(5)
    image = torch.rand(2, 3, 100, 100, generator=g)
    mask = (torch.rand(2, 1, 100, 100, generator=g) > 0.3).float()
    mask[1] = 1  # nothing missing
    cfg = Pyramid(pass_tile=64)
    out, sigma = inpaint_with_std(model, image[order], mask[order], cfg=cfg, bf16=False)
    alone = inpaint_with_std(model, image[:1], mask[:1], cfg=cfg, bf16=False)[1]
    assert sigma.shape == image.shape and torch.equal(out[order.index(1)], image[1])
    assert torch.equal(sigma[order.index(1)], torch.zeros(3, 100, 100))
    assert torch.allclose(sigma[order.index(0)], alone[0], atol=1e-6)
    assert torch.equal(inpaint_with_std(model, image[1:], mask[1:], cfg=cfg)[1],
                       torch.zeros(1, 3, 100, 100))
    # A bare function says nothing of its σ: the image no pass ran on has σ 0 in the batch.
    def bare(im, mk):
        return model_single(model)(im, mk)

    assert torch.equal(inpaint_pyramid(bare, image[order], mask[order], cfg)[1], sigma)


@pytest.mark.parametrize("size, coarsest", [(256, 32), (255, 64), (257, 33)])
def test_a_flat_level_takes_the_carried_up_fill(model, size, coarsest):
    """Levels no sharper than the level below carried up (an upscaled picture) are not
    re-filled: the model runs at the coarsest level only; the holes above hold its fill carried
    up, and σ the hint's; known pixels stay exact. Odd sides too, whose levels' last cells
    hold one row (carried up resized to the side, they drifted: 3.6-3.9 grey levels)."""
    calls = []

    def single(image, mask):
        calls.append(tuple(image.shape[-2:]))
        return model_single(model)(image, mask)

    h = w = size
    image, mask = smooth_image(h, w), box_mask(h, w, 64, 64, 128, 128)
    out, sigma = inpaint_pyramid(single, image, mask, Pyramid(tile=256))
    assert calls == [(coarsest, coarsest)]
    known = mask.bool().expand_as(image)
    assert torch.equal(out[known], image[known])
    assert (sigma[~known] > 0).all() and (sigma[known] == 0).all()


def test_large_levels_are_refined_in_tiles_with_the_same_known_pixels(model):
    h, w = 300, 260
    image, mask = smooth_image(h, w, seed=2), box_mask(h, w, 100, 90, 30, 150)
    cfg = Pyramid(tile=64, margin=16)
    out, sigma = inpaint_pyramid(model_single(model), image, mask, cfg)
    known = mask.bool().expand_as(image)
    assert torch.equal(out[known], image[known])
    assert (sigma[~known] > 0).all() and (sigma[known] == 0).all()


@pytest.mark.parametrize("size", [128, 127, 129])
def test_sigma_grows_with_what_the_pyramid_cannot_know(size):
    """The hint's σ grows by the level's detail, and a band pixel takes its distance's share
    of the hint's variance: a stub model sure of everything (σ 0.01) is not believed."""
    def sure(image, mask):
        return image, torch.full_like(image, 0.01)

    h = w = size
    image = smooth_image(h, w)
    image[:, 0, :, 1::2] += 0.2  # fine detail the coarse levels cannot carry up
    mask = box_mask(h, w, 32, 32, 64, 64)
    _, sigma = inpaint_pyramid(sure, image, mask, Pyramid(tile=256))
    dist = hole_distance(mask)
    one, far = (dist == 1).expand_as(sigma), (dist > 4).expand_as(sigma)
    red = torch.zeros_like(sigma, dtype=torch.bool)
    red[:, 0] = True
    # Next to known pixels: barely above the model's own σ; deep in the hole: the detail's.
    assert (sigma[one & ~red] < 0.02).all()
    assert (sigma[far & red] > 0.09).all()
    # Green and blue have no detail beyond a smooth picture's (a fraction of a grey level): the
    # model's own 0.01, not more (misaligned on odd sides, the drift added up to 0.024).
    assert (sigma[far & ~red] < 0.0125).all()
    assert sigma[one & red].mean() < sigma[(dist == 4).expand_as(sigma) & red].mean()


@pytest.mark.parametrize("band", [0.0, 0.5, 4.0])
def test_sigma_is_finite_at_any_band(model, band):
    """band 0 ("coarse, then up", docs/any-size.md) took d/band of the hint's variance as
    0/0 on known pixels, and carried the NaN up into the next level's holes."""
    image = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    mask = box_mask(128, 128, 32, 32, 64, 64)
    out, sigma = inpaint_with_std(model, image, mask, cfg=Pyramid(band=band), bf16=False)
    known = mask.bool().expand_as(sigma)
    assert torch.isfinite(out).all() and torch.isfinite(sigma).all()
    assert (sigma[known] == 0).all() and (sigma[~known] > 0).all()


@pytest.mark.parametrize("size", [32, 64, 300])
def test_nothing_known_still_has_a_sigma(size):
    """A full mask goes through every level with no band pixel to re-fill (no tile holds one
    over 128 px): σ is the coarsest fill's, carried up, not None."""
    def unsure(image, mask):
        return torch.full_like(image, 0.5), torch.full_like(image, 0.2)

    image, mask = smooth_image(size, size), torch.zeros(1, 1, size, size)
    out, sigma = inpaint_pyramid(unsure, image, mask, Pyramid(tile=128))
    assert sigma is not None and sigma.shape == image.shape
    assert torch.isfinite(sigma).all() and (sigma >= 0.2 - 1e-6).all()
    assert torch.allclose(out, torch.full_like(out, 0.5))
