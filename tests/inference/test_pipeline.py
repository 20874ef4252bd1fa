import math

import pytest
import torch

from tests.helpers import TINY, box_mask, smooth_image
from impaint.model import ImplicitInpainter, inpaint_with_std as one_pass
from impaint.inference.levels import levels_for
from impaint.inference.pipeline import (bf16_is_fast, inpaint, inpaint_pyramid, inpaint_with_std,
                                        model_single)
from impaint.inference.pyramid import Pyramid


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


@pytest.mark.parametrize("case,fragment", [
    ("uint8", "must be float, got torch.uint8"),
    ("0_255", "values must be in [0, 1], got 0 to 255 (a 0-255 image: divide by 255)"),
    ("no_batch", "(one image and its mask: image[None], mask[None])"),
    ("mask_hw", "(an (H, W) mask: mask[None, None])"),
    ("mask_size", "mask must be (B, 1, H, W) = (1, 1, 40, 48)"),
    ("float64", "must be float32, the model's, got torch.float64 and torch.float32 (.float()"),
    ("float16", "must be float32, the model's, got torch.float16 and torch.float32 (.float()"),
    ("bf16_mask", "got torch.float32 and torch.bfloat16 (.float()"),
    ("empty", "image (0, 3, 40, 48) is empty: nothing to inpaint"),
    ("scale_0", "scale must be a positive whole number (1, 2, 4...), got 0"),
    ("scale_1.5", "scale must be a positive whole number (1, 2, 4...), got 1.5"),
    ("grey", "image must have 3 channels (RGB), got 1 (a grey one: "),
    ("rgba", "got 4 (an RGBA one: image[:, :3]"),
    ("bool_mask", "got torch.float32 and torch.bool (a mask of bool: mask.float())"),
    ("int_mask", "got torch.float32 and torch.int64 (a mask of int64: mask.float())"),
    ("numpy", "got ndarray and ndarray (an (H, W, 3) numpy image: torch.from_numpy(a)"
              ".permute(2, 0, 1)[None].float() / 255)"),
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
    elif case == "mask_hw":
        mask = mask[0, 0]
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
    elif case == "int_mask":
        mask = mask.long()
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
    for wrong in ("general", torch.nn.Conv2d(3, 3, 1)):  # a name, another network
        with pytest.raises(TypeError, match=r"model must be an impaint model \(load_model\("):
            inpaint(wrong, image, mask)
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


@pytest.mark.parametrize("hole", [(20, 10, 90, 70), (40, 30, 4, 4)])  # pyramid, one pass
def test_scale_renders_the_fill_larger_with_sigma_zero_only_where_known(model, hole):
    image, mask = smooth_image(128, 96), box_mask(128, 96, *hole)
    assert bool(levels_for(mask[0])) == (hole[2] > 10)  # the two routes at x2
    out, sigma = inpaint_with_std(model, image, mask, scale=2)
    assert out.shape == (1, 3, 256, 192) and sigma.shape == out.shape
    big_known = torch.nn.functional.interpolate(mask, scale_factor=2).bool().expand_as(out)
    big_image = torch.nn.functional.interpolate(image, scale_factor=2)
    assert torch.equal(out[big_known], big_image[big_known])
    assert (sigma[big_known] == 0).all() and (sigma[~big_known] > 0).all()


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


@pytest.mark.parametrize("scale", [1, 2])
def test_a_fill_does_not_depend_on_its_batch_mates(model, scale):
    """A small hole (one pass) beside a large one (the pyramid): at x2 they take two routes,
    each image its own, as it would alone; the batch's order is kept."""
    image = torch.cat([smooth_image(80, 80, s) for s in range(3)])
    mask = torch.cat([box_mask(80, 80, 10, 10, 60, 60), box_mask(80, 80, 5, 5, 5, 5),
                      box_mask(80, 80, 30, 20, 40, 50)])
    assert [bool(levels_for(m)) for m in mask] == [True, False, True]
    out, sigma = inpaint_with_std(model, image, mask, scale=scale)
    alone = [inpaint_with_std(model, image[i:i + 1], mask[i:i + 1], scale=scale)
             for i in range(3)]
    assert torch.allclose(out, torch.cat([a[0] for a in alone]), atol=1e-5)
    assert torch.allclose(sigma, torch.cat([a[1] for a in alone]), atol=1e-5)


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


def test_the_old_path_keeps_every_name_the_split_moved():
    """pipeline.py once held the settings, levels, refinement and averaging: each name it had
    is still there, the same object (as `impaint.Pyramid` and `impaint.auto_averaged` are)."""
    import impaint
    from impaint.inference import averaged, levels, pipeline, pyramid, refine

    moved = {pyramid: ["SingleScale", "Traits", "traits", "with_traits", "Pyramid",
                       "check_flips", "check_rounds"],
             averaged: ["MIRRORS", "flipped", "mirrors", "mirrored", "refilled",
                        "refilled_passes", "AUTO_WORK", "AUTO_WORK_FP32", "AUTO_STEPS",
                        "auto_averaged"],
             levels: ["hole_distance", "levels_for", "pull", "carry_up", "detail_variance",
                      "away_from_holes"],
             refine: ["Level", "plan"]}
    for module, names in moved.items():
        assert all(getattr(pipeline, name) is getattr(module, name) for name in names), module
    assert impaint.Pyramid is pyramid.Pyramid and impaint.auto_averaged is averaged.auto_averaged
