"""Averaged fills (inference/averaged.py): test-time flips, re-fill rounds, auto_averaged."""

import pytest
import torch

from tests.helpers import box_mask, smooth_image
from impaint.inference.averaged import (AUTO_WORK, AUTO_WORK_FP32, MIRRORS, auto_averaged,
                                        flipped)
from impaint.inference.pipeline import inpaint, inpaint_pyramid, model_single
from impaint.inference.pyramid import Pyramid
from impaint.precision import native_bf16


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
