import math

import pytest
import torch

from tests.helpers import TINY
from impaint.model import ImplicitInpainter, inpaint_with_std as one_pass
from impaint.inference.pipeline import (AUTO_WORK, AUTO_WORK_FP32, MIRRORS, Pyramid,
                                        auto_averaged, bf16_is_fast, detail_variance, flipped,
                                        hole_distance, inpaint, inpaint_pyramid, inpaint_with_std,
                                        levels_for, model_single, pull)
from impaint.precision import native_bf16


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return ImplicitInpainter(TINY.__class__(**{**TINY.to_dict(), "probabilistic": True})).eval()


def box_mask(h, w, top, left, bh, bw):
    mask = torch.ones(1, 1, h, w)
    mask[..., top:top + bh, left:left + bw] = 0
    return mask


def smooth_image(h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 4, 4, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear")


def test_hole_distance_is_euclidean_to_the_nearest_known_pixel():
    mask = box_mask(9, 9, 2, 2, 5, 5)
    d = hole_distance(mask)[0, 0]
    assert d[0, 0] == 0 and d[4, 4] == pytest.approx(3.0) and d[2, 2] == pytest.approx(1.0)
    assert math.isinf(float(hole_distance(torch.zeros(1, 1, 4, 4)).max()))


@pytest.mark.parametrize("size, box, levels", [
    (32, 28, 0),  # the model's own size: never reduced
    (128, 4, 0),  # a small hole: within reach at full size
    (128, 40, 2),  # 20 px from known -> 10 -> 5: two reductions
    (512, 160, 4),  # 80 px -> 5 after four reductions
    (512, 256, 4),  # 128 px would need five: capped where the side would go under 32
    (512, 512, 4),  # nothing known: as coarse as min_side allows (512 / 2^4 = 32)
])
def test_the_holes_set_the_number_of_levels(size, box, levels):
    top = (size - box) // 2
    mask = box_mask(size, size, top, top, box, box)[0]
    assert levels_for(mask, Pyramid(reach=6.0)) == levels


def test_pull_keeps_a_block_known_if_any_pixel_is_and_averages_the_known_ones():
    image = torch.arange(16.0).view(1, 1, 4, 4)
    mask = torch.ones(1, 1, 4, 4)
    mask[..., 0, 0] = 0  # block (0, 0) keeps 1, 4, 5
    mask[..., 2:, 2:] = 0  # block (1, 1) has nothing known
    coarse, known = pull(image, mask)
    assert known[0, 0].tolist() == [[1, 1], [1, 0]]
    assert coarse[0, 0, 0, 0] == pytest.approx((1 + 4 + 5) / 3)
    assert coarse[0, 0, 1, 0] == pytest.approx((8 + 9 + 12 + 13) / 4)


@pytest.mark.parametrize("h, w", [(32, 32), (96, 160), (300, 77), (257, 513)])
def test_known_pixels_are_exact_at_any_size_and_aspect(model, h, w):
    image = smooth_image(h, w)
    mask = box_mask(h, w, h // 4, w // 5, h // 2, w // 2)
    mask[..., ::7, ::5] = 0  # scattered holes too
    out, sigma = inpaint_with_std(model, image, mask)
    known = mask.bool().expand_as(image)
    assert out.shape == image.shape and sigma.shape == image.shape
    assert torch.equal(out[known], image[known])
    assert (sigma[known] == 0).all() and (sigma[~known] > 0).all()
    assert out.min() >= 0 and out.max() <= 1


def test_small_holes_take_exactly_the_single_pass(model):
    image, mask = smooth_image(32, 32), box_mask(32, 32, 4, 4, 20, 20)
    ref, ref_sigma = one_pass(model, image, mask)
    out, sigma = inpaint_with_std(model, image, mask, bf16=False)
    assert torch.equal(out, ref) and torch.equal(sigma, ref_sigma)


@pytest.mark.parametrize("h, w", [(32, 32), (96, 160)])
def test_bf16_passes_keep_known_pixels_and_stay_near_fp32(model, h, w):
    image, mask = smooth_image(h, w), box_mask(h, w, h // 4, w // 4, h // 2, w // 2)
    ref, ref_sigma = inpaint_with_std(model, image, mask, bf16=False)
    out, sigma = inpaint_with_std(model, image, mask, bf16=True)
    known = mask.bool().expand_as(image)
    assert out.dtype == sigma.dtype == torch.float32
    assert torch.equal(out[known], image[known]) and not sigma[known].any()
    assert not torch.equal(out, ref)  # it did run in bf16
    assert (out - ref).abs().max() < 0.05 and (sigma - ref_sigma).abs().max() < 0.05


def test_without_bf16_the_callers_autocast_holds(model):
    # evaluate --bf16 and the bench wrap the pipeline in their own autocast: bf16=False must
    # leave it on, not switch it off inside the model passes.
    image, mask = smooth_image(96, 160), box_mask(96, 160, 24, 40, 48, 80)
    ref = inpaint(model, image, mask, bf16=True)
    with torch.autocast("cpu", torch.bfloat16):
        out = inpaint(model, image, mask, bf16=False)
    assert torch.equal(out, ref) and not torch.equal(out, inpaint(model, image, mask, bf16=False))


def test_bf16_is_never_chosen_off_the_cpu_or_when_fp32_is_asked(monkeypatch):
    assert not bf16_is_fast("meta")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    monkeypatch.delenv("IMPAINT_FP32", raising=False)
    assert bf16_is_fast("cpu")
    monkeypatch.setenv("IMPAINT_FP32", "1")
    assert not bf16_is_fast("cpu")


@pytest.mark.parametrize("case", ["one_px_line", "border", "one_known_pixel"])
def test_hard_holes(model, case):
    h, w = 200, 120
    image, mask = smooth_image(h, w, seed=1), torch.ones(1, 1, h, w)
    if case == "one_px_line":
        mask[..., :, 60] = 0
    elif case == "border":
        mask[..., :80, :] = 0  # touches three borders
    else:
        mask.zero_()
        mask[..., 150, 30] = 1
    out = inpaint(model, image, mask)
    known = mask.bool().expand_as(image)
    assert torch.equal(out[known], image[known])
    assert torch.isfinite(out).all()
    if case == "one_known_pixel":
        assert levels_for(mask[0]) == 1  # 120 -> 60; 30 would be under 32 px


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


@pytest.mark.parametrize("band", [0.0, 1.5, 4.0, 6.0])
def test_away_from_holes_is_the_distance_rule(band):
    from impaint.inference.pipeline import away_from_holes

    g = torch.Generator().manual_seed(int(band * 10))
    masks = torch.cat([(torch.rand(1, 1, 40, 50, generator=g) > 0.05).float(),
                       box_mask(40, 50, 0, 10, 12, 30), box_mask(40, 50, 5, 5, 1, 1),
                       torch.ones(1, 1, 40, 50), torch.zeros(1, 1, 40, 50)])
    expected = (hole_distance(1 - masks) > band).float()
    assert torch.equal(away_from_holes(masks, band), expected)


def test_detail_variance_is_measured_on_known_pixels_away_from_holes():
    cfg = Pyramid(band=4.0)
    flat = torch.full((1, 3, 64, 64), 0.3)
    assert torch.equal(detail_variance(flat, torch.ones(1, 1, 64, 64), cfg),
                       torch.zeros(1, 3, 1, 1))
    # Columns alternating 0 / 1 in the red channel: every 2x2 block averages 0.5, so each
    # pixel strays by 0.5 from the coarse level carried up (variance 0.25).
    stripes = flat.clone()
    stripes[:, 0, :, 1::2], stripes[:, 0, :, ::2] = 1.0, 0.0
    mask = box_mask(64, 64, 8, 8, 16, 16)
    stripes[..., 8:24, 8:24] = torch.rand(1, 3, 16, 16)  # what is in a hole does not count
    v = detail_variance(stripes, mask, cfg)
    assert v.shape == (1, 3, 1, 1)
    assert 0.22 < float(v[0, 0]) < 0.28 and float(v[0, 1:].max()) < 1e-6


@pytest.mark.parametrize("size", [64, 63, 65, 127, 129])
def test_a_smooth_picture_has_no_detail_at_any_size(size):
    """The level below carried up is the picture itself, to a fraction of a grey level, on
    odd sides too (whose coarse level's last cell holds one row and one column)."""
    image = torch.nn.functional.interpolate(smooth_image(size // 4 + 1, size // 4 + 1),
                                            size=(size, size), mode="bicubic").clamp(0, 1)
    v = detail_variance(image, torch.ones(1, 1, size, size), Pyramid())
    assert float(v.mean().sqrt()) * 255 < 1.0  # 3.6-3.7 grey levels on odd sides, misaligned


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


@pytest.mark.parametrize("case,fragment", [
    ("uint8", "must be float, got torch.uint8"),
    ("0_255", "values must be in [0, 1], got 0 to 255 (a 0-255 image: divide by 255)"),
    ("no_batch", "image must be (B, C, H, W)"),
    ("mask_size", "mask must be (B, 1, H, W) = (1, 1, 40, 48)"),
    ("float64", "must be float32, the model's, got torch.float64 and torch.float32 (.float()"),
    ("float16", "must be float32, the model's, got torch.float16 and torch.float32 (.float()"),
    ("bf16_mask", "got torch.float32 and torch.bfloat16 (.float()"),
    ("empty", "image (0, 3, 40, 48) is empty: nothing to inpaint"),
    ("scale_0", "scale must be a positive whole number (1, 2, 4...), got 0"),
    ("scale_1.5", "scale must be a positive whole number (1, 2, 4...), got 1.5"),
    ("grey", "image must have 3 channels (RGB), got 1 (a grey one: "),
    ("rgba", "got 4 (an RGBA one: image[:, :3]"),
    ("bool_mask", "got torch.float32 and torch.bool (a bool mask: mask.float())"),
    ("numpy", "got ndarray and ndarray (an (H, W, 3) numpy image: torch.from_numpy("),
    ("nan", "NaN or infinite"),
    ("mask_255", "mask values must be 1 (known) or 0 (missing)"),
    ("channels_last", "got 40 (a (B, H, W, 3) one: image.permute(0, 3, 1, 2))"),
    ("mask_no_channel", "(a (B, H, W) mask: mask[:, None])"),
    ("int64", "(image.float(), with values in [0, 1])"),
    ("overshoot", "got -0.1 to 1.13 (image.clamp(0, 1))"),  # bicubic's, not a 0-255 image
    ("just_over", "got 0 to 1.00000012 (image.clamp(0, 1))"),
    ("minus_one", "got -1 to 1 (a [-1, 1] image: (image + 1) / 2)"),  # clamp would zero half
])
def test_the_api_names_the_usual_slips(model, case, fragment):
    image, mask = smooth_image(40, 48), box_mask(40, 48, 10, 10, 20, 20)
    if case == "uint8":
        image = (image * 255).to(torch.uint8)
    elif case == "0_255":
        image = image * 0 + torch.linspace(0, 255, 48)
    elif case == "no_batch":
        image, mask = image[0], mask[0]
    elif case == "mask_size":
        mask = mask[..., :20]
    elif case == "float64":
        image = image.double()
    elif case == "float16":
        image = image.half()
    elif case == "bf16_mask":
        mask = mask.bfloat16()
    elif case == "empty":
        image, mask = image[:0], mask[:0]
    elif case == "grey":
        image = image[:, :1]
    elif case == "rgba":
        image = torch.cat([image, torch.ones_like(image[:, :1])], 1)
    elif case == "bool_mask":
        mask = mask.bool()
    elif case == "numpy":
        image, mask = image.numpy(), mask.numpy()
    elif case == "nan":
        image[0, 0, 0, 0] = float("nan")
    elif case == "mask_255":
        mask = mask * 255
    elif case == "channels_last":
        image = image.permute(0, 2, 3, 1)
    elif case == "mask_no_channel":
        mask = mask[:, 0]
    elif case == "int64":
        image = image.long()
    elif case == "overshoot":
        image = image.clamp(0.2, 0.8)
        image[0, 0, 0, :2] = torch.tensor([-0.1, 1.13])
    elif case == "minus_one":
        image = image * 0 + torch.linspace(-1, 1, 48)
    elif case == "just_over":
        image = image * 0 + torch.linspace(0, 1, 48)
        image[0, 0, 0, -1] = torch.nextafter(torch.tensor(1.0), torch.tensor(2.0))
    scale = {"scale_0": 0, "scale_1.5": 1.5}.get(case, 1)
    with pytest.raises(ValueError) as error:
        inpaint(model, image, mask, scale=scale)
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_the_api_names_a_wrong_model_or_setting_and_keeps_the_models_mode(model):
    image, mask = smooth_image(40, 48), box_mask(40, 48, 10, 10, 20, 20)
    with pytest.raises(TypeError, match=r"model must be a loaded model \(load_model\("):
        inpaint("general", image, mask)
    with pytest.raises(TypeError, match="cfg must be a Pyramid"):
        inpaint(model, image, mask, cfg={"flips": 8})
    with pytest.raises(ValueError, match="bf16 must be True, False or None"):
        inpaint(model, image, mask, bf16="no")
    for bad in ({"tile": 0}, {"reach": -1}, {"reach": 0}, {"upsample": "nearest"},
                {"tile": 64.0}, {"margin": 3.5}, {"pass_tile": 512.0}):  # slice bounds: ints
        with pytest.raises(ValueError, match=f"Pyramid.{next(iter(bad))} must be"):
            Pyramid(**bad)
    Pyramid(band=0.0)  # the coarse-then-up design: no band is a setting, not a slip
    model.train()
    try:
        inpaint(model, image, mask)
        assert model.training  # a model being trained is not left in eval mode
    finally:
        model.eval()  # the module's shared model, in eval mode for the tests after this one


def test_scale_renders_the_pyramid_fill_larger(model):
    image, mask = smooth_image(128, 96), box_mask(128, 96, 20, 10, 90, 70)
    out, sigma = inpaint_with_std(model, image, mask, scale=2)
    assert out.shape == (1, 3, 256, 192) and sigma.shape == out.shape
    big_known = torch.nn.functional.interpolate(mask, scale_factor=2).bool().expand_as(out)
    big_image = torch.nn.functional.interpolate(image, scale_factor=2)
    assert torch.equal(out[big_known], big_image[big_known])


def test_on_pass_ticks_once_per_model_pass(model):
    """What a progress bar counts: every pass, the coarsest level's and each tile's."""
    noise = torch.rand(1, 3, 300, 260, generator=torch.Generator().manual_seed(1))
    image = smooth_image(300, 260) * 0.7 + noise * 0.3
    mask = box_mask(300, 260, 20, 30, 200, 150)
    calls = []

    def single(im, mk):
        calls.append(tuple(im.shape[-2:]))
        return model_single(model, bf16=False)(im, mk)

    inpaint_pyramid(single, image, mask)
    ticks = []
    inpaint_with_std(model, image, mask, bf16=False, on_pass=lambda: ticks.append(1))
    assert len(calls) > 3 and len(ticks) == len(calls)
    ticks.clear()  # x2 with small holes: the one pass rendered, a tick a chunk of queries
    from impaint.model.network import RENDER_CHUNK
    inpaint_with_std(model, image, box_mask(300, 260, 5, 5, 3, 3), scale=2,
                     on_pass=lambda: ticks.append(1))
    assert len(ticks) == math.ceil(600 * 520 / RENDER_CHUNK) == 2


def test_a_batch_mixes_images_of_different_depths(model):
    image = torch.cat([smooth_image(128, 128, s) for s in range(2)])
    mask = torch.cat([box_mask(128, 128, 60, 60, 4, 4), box_mask(128, 128, 10, 10, 100, 100)])
    out, _ = inpaint_with_std(model, image, mask)
    alone = [inpaint_with_std(model, image[i:i + 1], mask[i:i + 1])[0] for i in range(2)]
    assert torch.allclose(out, torch.cat(alone), atol=1e-5)


def test_a_coarse_model_fills_only_the_coarsest_level(model):
    from impaint.model import with_coarse

    calls = []

    def coarse(image, mask):
        calls.append(tuple(image.shape[-2:]))
        return model_single(model)(image, mask)

    twin = with_coarse(ImplicitInpainter(model.cfg).eval(), coarse)
    assert sum(p.numel() for p in twin.parameters()) == sum(p.numel() for p in model.parameters())
    image, mask = smooth_image(128, 128), box_mask(128, 128, 20, 20, 80, 80)
    out = inpaint(twin, image, mask)
    assert calls == [(32, 32)]
    assert torch.equal(out[mask.bool().expand_as(out)], image[mask.bool().expand_as(image)])
    small = box_mask(128, 128, 60, 60, 3, 3)  # within reach: one pass, no coarse level
    alone = inpaint(twin, image, small)
    assert calls == [(32, 32)]
    # In a batch beside an image that needs the pyramid, the same one pass: an image's fill
    # does not depend on its batch-mates (it once went to the coarse model at full size).
    both = inpaint(twin, torch.cat([image, image]), torch.cat([mask, small]))
    assert calls == [(32, 32)] * 2
    assert torch.allclose(both[1:], alone, atol=1e-6) and torch.allclose(both[:1], out, atol=1e-6)


@pytest.mark.parametrize("fine_sigma, coarse_sigma", [(True, False), (False, True)])
def test_sigma_follows_the_fine_model_of_a_mixed_pair(fine_sigma, coarse_sigma):
    """A probabilistic model with a deterministic coarse one (σ 0 in the hint: the level's
    detail alone) crashed; a deterministic one with a probabilistic coarse one gave σ. Bare
    functions too, which say nothing: what the fine one's passes return tells."""
    from dataclasses import replace

    from impaint.model import with_coarse

    def tiny(probabilistic):
        torch.manual_seed(0)
        return ImplicitInpainter(replace(TINY, probabilistic=probabilistic)).eval()

    fine, coarse = tiny(fine_sigma), tiny(coarse_sigma)
    image = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    mask = box_mask(128, 128, 32, 32, 64, 64)
    _, sigma = inpaint_with_std(with_coarse(fine, coarse), image, mask, bf16=False)
    bare = [lambda im, mk, m=m: model_single(m)(im, mk) for m in (fine, coarse)]
    _, bare_sigma = inpaint_pyramid(bare[0], image, mask, Pyramid(), bare[1])
    if not fine_sigma:
        assert sigma is None and bare_sigma is None
        return
    known = mask.bool().expand_as(sigma)
    assert torch.isfinite(sigma).all() and (sigma[known] == 0).all()
    assert (sigma[~known] > 0).all() and torch.allclose(bare_sigma, sigma, atol=1e-6)


def test_the_coarse_model_follows_the_fine_ones_device_and_dtype():
    """A pair's coarse model is out of the fine one's module tree: `pair.to(...)` left it
    behind (a CUDA evaluation fed it CUDA tensors on the CPU); it follows when used."""
    from impaint.inference.pipeline import coarse_of
    from impaint.model import with_coarse

    pair = with_coarse(ImplicitInpainter(TINY).eval(), ImplicitInpainter(TINY).eval())
    pair.to(torch.float64)
    image, mask = smooth_image(32, 32).double(), box_mask(32, 32, 8, 8, 16, 16).double()
    out, _ = coarse_of(pair)(image, mask)
    assert next(pair.coarse.parameters()).dtype == torch.float64 == out.dtype


def test_the_shipped_faces_pair_loads_and_fills_without_a_download(monkeypatch):
    import socket

    from impaint.model import load_model

    def no_network(*args, **kwargs):
        raise AssertionError("impaint tried to open a network connection")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    faces = load_model("faces")
    assert faces.coarse.cfg == load_model("celeba32").cfg
    assert "coarse" not in dict(faces.named_children())
    out = inpaint(faces, smooth_image(96, 96), box_mask(96, 96, 10, 10, 70, 60))
    assert out.shape == (1, 3, 96, 96)


def test_each_mirror_is_undone_by_its_inverse():
    x = torch.arange(2 * 5 * 7, dtype=torch.float32).view(1, 2, 5, 7)
    outs = [forward(x) for forward, _ in MIRRORS]
    assert all(torch.equal(back(forward(x)), x) for forward, back in MIRRORS)
    assert len({tuple(o.flatten().tolist()) for o in outs}) == 8  # eight different images
    assert {tuple(o.shape[-2:]) for o in outs} == {(5, 7), (7, 5)}


@pytest.mark.parametrize("flips", [2, 4, 8])
@pytest.mark.parametrize("h, w", [(32, 32), (40, 56), (150, 90)])
def test_flips_average_the_mirrored_fills_and_keep_known_pixels(model, flips, h, w):
    image = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h))
    mask = (torch.rand(1, 1, h, w, generator=torch.Generator().manual_seed(w)) > 0.6).float()
    mask[..., h // 4:h // 2, w // 4:w // 2] = 0  # a box too: a pyramid above 64 px
    single = model_single(model)
    cfg = Pyramid(flips=flips, upright_below=0)  # every mirror at every level
    out, sigma = inpaint_pyramid(single, image, mask, cfg)
    known = mask.bool().expand_as(out)
    assert torch.equal(out[known], image[known]) and (sigma[known] == 0).all()
    assert (sigma[~known] > 0).all()
    if max(h, w) <= 64 and flips == 2:  # one pass: the mean of it and its mirror's, exactly
        mirror = single(image.flip(-1), mask.flip(-1))[0].flip(-1)
        assert torch.allclose(out[~known], ((single(image, mask)[0] + mirror) / 2)[~known],
                              atol=1e-6)
    # A mirror image of the input gets the mirror image of the fill (the flips are a group),
    # in one pass; a pyramid's 2x2 blocks start at the top-left corner, which a mirror moves.
    if flips == 8 and max(h, w) <= 64:
        for forward, back in MIRRORS[1:]:
            turned = inpaint_pyramid(single, forward(image), forward(mask), cfg)[0]
            assert torch.allclose(back(turned), out, atol=1e-5)


def test_flips_sigma_adds_the_spread_of_the_fills():
    """Two fills that disagree by 0.2 with σ 0.1 each: σ² = 0.1² + 0.1² (their spread)."""
    def lopsided(image, mask):  # 0.4 on the left half, 0.6 on the right: a mirror swaps them
        fill = torch.full_like(image, 0.4)
        fill[..., image.shape[-1] // 2:] = 0.6
        return torch.where(mask.bool(), image, fill), torch.full_like(image, 0.1)

    image, mask = torch.zeros(1, 3, 8, 8), torch.zeros(1, 1, 8, 8)
    mask[..., 0, 0] = 1
    out, sigma = flipped(lopsided, 2)(image, mask)
    assert torch.allclose(out[..., 1:, :], torch.tensor(0.5))
    assert torch.allclose(sigma[..., 1:, :], torch.tensor(0.02).sqrt())
    assert out[0, 0, 0, 0] == 0 and sigma[0, 0, 0, 0] == 0


def test_flips_one_is_the_plain_fill_and_others_are_refused(model):
    image, mask = smooth_image(64, 48), box_mask(64, 48, 10, 10, 30, 20)
    plain = inpaint(model, image, mask)
    assert torch.equal(inpaint(model, image, mask, cfg=Pyramid(flips=1)), plain)
    for bad in (3, 8.0, "8", True):  # not silently taken for 8 (or 1)
        with pytest.raises(ValueError, match=f"flips must be one of 1, 2, 4, 8, got {bad!r}"):
            inpaint(model, image, mask, cfg=Pyramid(flips=bad))


@pytest.mark.parametrize("cfg", [Pyramid(flips=4), Pyramid(rounds=2)])
def test_flips_and_rounds_at_scale_render_the_averaged_fill(model, cfg):
    """Small holes at x2 render the masked image in one pass; with flips or rounds the fill is
    made (averaged) at x1 first, and rendered from it: known pixels still exact."""
    image, mask = smooth_image(48, 40), box_mask(48, 40, 10, 10, 3, 3)
    out, sigma = inpaint_with_std(model, image, mask, scale=2, cfg=cfg)
    big_known = torch.nn.functional.interpolate(mask, scale_factor=2).bool().expand_as(out)
    big_image = torch.nn.functional.interpolate(image, scale_factor=2)
    assert out.shape == (1, 3, 96, 80) and torch.equal(out[big_known], big_image[big_known])
    assert not torch.equal(out, inpaint_with_std(model, image, mask, scale=2)[0])


def test_small_levels_take_only_the_upright_mirrors(model):
    """Under `upright_below` px (a whole face or scene in the model's view) only the image
    and its left-right mirror; at 128 px and over (texture) all eight."""
    seen = []

    def single(image, mask):
        seen.append((tuple(image.shape[-2:]), tuple(image[0, 0, 0, :2].tolist())))
        return model_single(model)(image, mask)

    def ramp(h, w):  # different top-left pixels in each of the eight mirror images
        y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 0.5, w), indexing="ij")
        return (0.3 * y + x + 0.1 * y * x).expand(1, 3, h, w).contiguous()

    inpaint_pyramid(single, ramp(64, 48), box_mask(64, 48, 10, 10, 3, 3), Pyramid(flips=8))
    assert len(seen) == 2 and {size for size, _ in seen} == {(64, 48)}
    seen.clear()
    inpaint_pyramid(single, ramp(160, 130), box_mask(160, 130, 50, 50, 4, 4), Pyramid(flips=8))
    assert len(seen) == 8 and len({corner for _, corner in seen}) == 8
    seen.clear()  # a big box: the coarsest level (40 x 32) upright, the 160-px level all 8
    detail = torch.rand(1, 3, 160, 128, generator=torch.Generator().manual_seed(0)) * 0.3
    inpaint_pyramid(single, ramp(160, 128) + detail, box_mask(160, 128, 20, 20, 100, 80),
                    Pyramid(flips=8, tile=512))  # (not flat: the model re-fills each level)
    sizes = [size for size, _ in seen]
    assert sizes.count((40, 32)) == 2 and sizes.count((160, 128)) + sizes.count((128, 160)) == 8


@pytest.mark.parametrize("case", ["box", "box_flips", "flat", "small_batch", "mixed_batch",
                                  "large_scattered", "small_batch_rounds", "mixed_batch_rounds",
                                  "large_scattered_rounds"])
def test_the_plan_counts_every_pass_before_it_runs(model, case):
    """`on_plan` (a progress bar's total) says how many passes will come, before them."""
    noise = torch.rand(1, 3, 300, 260, generator=torch.Generator().manual_seed(1))
    image, mask, cfg = smooth_image(300, 260) * 0.7 + noise * 0.3, None, Pyramid()
    if case in ("box", "box_flips"):
        mask = box_mask(300, 260, 20, 30, 200, 150)
        cfg = Pyramid(flips=8 if case == "box_flips" else 1)
    elif case == "flat":  # an upscaled picture: its finest level takes the hint, no pass
        image = torch.nn.functional.interpolate(smooth_image(75, 65), size=(300, 260),
                                                mode="bicubic")
        mask = box_mask(300, 260, 20, 30, 200, 150)
    elif case == "small_batch":
        image, mask = torch.rand(3, 3, 32, 32), (torch.rand(3, 1, 32, 32) > 0.5).float()
    elif case == "mixed_batch":
        image = torch.cat([smooth_image(128, 128, s) for s in range(2)])
        mask = torch.cat([box_mask(128, 128, 60, 60, 4, 4), box_mask(128, 128, 10, 10, 99, 99)])
    else:  # scattered holes over a 600-px image: one pass, in 512-px tiles
        image = torch.rand(1, 3, 600, 600)
        mask = (torch.rand(1, 1, 600, 600) > 0.3).float()
    if case.endswith("_rounds"):  # 2 passes a round, on the passes over holes within reach
        cfg = Pyramid(flips=2, rounds=3)
    planned, ticks = [], []
    inpaint_with_std(model, image, mask, cfg=cfg, on_pass=lambda: ticks.append(len(planned)),
                     on_plan=planned.append)
    assert sum(planned) == len(ticks) > 0
    assert all(seen > 0 for seen in ticks)  # each pass after a plan that counted it
    if case == "flat":
        assert len(ticks) < 7  # the same mask on a picture with detail: 7


def test_rounds_refill_each_half_of_the_hole_from_the_others_fill():
    """Each round: two passes, whose missing pixels split the hole in two halves; the pixels
    shown as known are the real ones and the other half's fill from the round before; the
    output is the mean of the rounds' fills, σ the first pass's."""
    calls = []

    def single(image, mask):  # a stand-in model: fills every hole pixel with the known share
        calls.append((image.clone(), mask.clone()))
        share = mask.mean((1, 2, 3), keepdim=True).expand_as(image)
        return torch.where(mask.bool(), image, share), torch.where(mask.bool(), 0.0, 0.5 + share)

    def share(known):
        return known.mean((1, 2, 3), keepdim=True)

    g = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 20, 24, generator=g)
    mask = (torch.rand(2, 1, 20, 24, generator=g) > 0.7).float()
    hole = mask == 0
    out, sigma = inpaint_pyramid(single, image, mask, Pyramid(rounds=3))
    assert len(calls) == 1 + 2 * 3 and torch.equal(calls[0][1], mask)
    fills, before = [], torch.where(hole, share(mask), image)  # the first pass's fill
    for (seen_a, known_a), (seen_b, known_b) in zip(calls[1::2], calls[2::2]):
        part_a, part_b = hole & (known_a == 0), hole & (known_b == 0)
        assert torch.equal(part_a | part_b, hole) and not (part_a & part_b).any()
        for seen, part in ((seen_a, part_a), (seen_b, part_b)):
            shown = (~part).expand_as(seen)
            assert torch.equal(seen[shown], before[shown])
        before = torch.where(part_a, share(known_a), torch.where(part_b, share(known_b), image))
        fills.append(before)
    known = mask.bool().expand_as(out)
    assert torch.equal(out[known], image[known])
    assert torch.allclose(out, sum(fills) / 3, atol=1e-6)
    assert torch.allclose(sigma, torch.where(mask.bool(), 0.0, 0.5 + share(mask)).expand_as(sigma))


def test_rounds_change_scattered_fills_only_and_depend_on_no_batch_mate(model):
    g = torch.Generator().manual_seed(3)
    image = torch.rand(2, 3, 40, 56, generator=g)
    mask = (torch.rand(2, 1, 40, 56, generator=g) > 0.5).float()
    plain = inpaint(model, image, mask)
    out = inpaint(model, image, mask, cfg=Pyramid(rounds=2))
    known = mask.bool().expand_as(out)
    assert torch.equal(out[known], image[known]) and not torch.equal(out, plain)
    assert torch.equal(inpaint(model, image, mask, cfg=Pyramid(rounds=2)), out)  # seeded
    alone = inpaint(model, image[1:], mask[1:], cfg=Pyramid(rounds=2))
    assert torch.allclose(alone, out[1:], atol=1e-6)
    # A box beyond reach goes through the pyramid, whose passes take no rounds.
    big, box = smooth_image(128, 128), box_mask(128, 128, 20, 20, 80, 80)
    assert torch.equal(inpaint(model, big, box, cfg=Pyramid(rounds=2)), inpaint(model, big, box))


def test_rounds_must_be_a_whole_number_of_zero_or_more(model):
    image, mask = smooth_image(32, 32), box_mask(32, 32, 10, 10, 5, 5)
    for bad in (-1, 1.5, "2", True):
        with pytest.raises(ValueError, match=f"rounds must be a whole number >= 0, got {bad!r}"):
            inpaint(model, image, mask, cfg=Pyramid(rounds=bad))


@pytest.mark.parametrize("size, flips, rounds", [
    ((32, 32), 8, 8), ((128, 128), 8, 8), ((204, 204), 8, 8), ((218, 178), 8, 8),
    ((205, 205), 8, 0), ((256, 256), 8, 0), ((353, 353), 8, 0), ((354, 354), 4, 0),
    ((480, 640), 2, 0), ((707, 707), 2, 0), ((708, 708), 1, 0), ((4096, 3072), 1, 0)])
def test_auto_averaging_is_the_most_that_fits_its_work_budget(size, flips, rounds):
    cfg = auto_averaged(size, Pyramid(reach=4.0), bf16=True)
    assert (cfg.flips, cfg.rounds, cfg.reach) == (flips, rounds, 4.0)  # the rest kept
    assert flips == 1 or (flips + 2 * rounds) * size[0] * size[1] <= AUTO_WORK


@pytest.mark.parametrize("size, flips, rounds", [
    ((32, 32), 8, 8), ((102, 102), 8, 8), ((103, 103), 8, 0), ((176, 176), 8, 0),
    ((128, 128), 8, 0), ((218, 178), 4, 0), ((250, 250), 4, 0), ((256, 256), 2, 0),
    ((353, 353), 2, 0), ((354, 354), 1, 0), ((512, 512), 1, 0)])
def test_auto_averaging_in_fp32_fits_the_slower_passes(size, flips, rounds):
    """fp32 passes (a CPU without bf16, or --fp32) cost 2.5-4x a bf16 pass: less averaging,
    so that 512 px stays one pass (0.6-0.7 s on a 2-core AVX2 CPU; 2 flips took 1.8 s there)."""
    assert (auto_averaged(size, bf16=False).flips, auto_averaged(size, bf16=False).rounds
            ) == (flips, rounds)
    assert flips == 1 or (flips + 2 * rounds) * size[0] * size[1] <= AUTO_WORK_FP32


def test_auto_averaging_takes_an_images_whole_shape_per_image():
    """`auto_averaged(image.shape)`: the budget is per image, on (H, W), not B·C·H·W."""
    for bf16 in (True, False):
        assert (auto_averaged((2, 3, 256, 256), bf16=bf16) == auto_averaged((256, 256), bf16=bf16)
                == auto_averaged(torch.Size([1, 3, 256, 256]), bf16=bf16))
    with pytest.raises(TypeError, match=r"a size, \(H, W\) or image.shape, not the image"):
        auto_averaged(torch.zeros(1, 3, 32, 32))
    with pytest.raises(TypeError, match=r"a size, \(H, W\) or image.shape, not 128"):
        auto_averaged(128)


def test_auto_averaging_follows_the_precision_inpaint_would_run(monkeypatch):
    """None: the budget of the precision `inpaint` picks (`bf16_is_fast`), --fp32 included."""
    monkeypatch.setenv("IMPAINT_FP32", "1")
    assert auto_averaged((256, 256)) == auto_averaged((256, 256), bf16=False)
    monkeypatch.delenv("IMPAINT_FP32")
    native = native_bf16("cpu")
    assert auto_averaged((256, 256)).flips == (8 if native else 2)
