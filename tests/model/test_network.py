import pytest
import torch

import impaint.model.network as network
from impaint.model import (ImplicitInpainter, ModelConfig, compose, count_parameters, inpaint,
                           pixel_centres)
from tests.helpers import TINY


def test_default_parameter_count_is_the_seed_budget():
    n = count_parameters(ImplicitInpainter())
    assert abs(n - 4.7e5) / 4.7e5 < 0.10, n


def test_shapes_and_any_resolution():
    model = ImplicitInpainter(TINY)
    img, mask = torch.rand(2, 3, 16, 16), torch.ones(2, 1, 16, 16)
    z = model.encode(img, mask)
    assert z.shape == (2, TINY.width, 16, 16)
    assert model(img, mask).shape == (2, 3, 16, 16)
    assert model.query(z, torch.rand(2, 7, 2) * 2 - 1).shape == (2, 7, 3)
    assert model.render(z, 40, 24).shape == (2, 3, 40, 24)


def test_render_in_chunks_gives_the_same_pixels(monkeypatch):
    torch.manual_seed(0)
    model = ImplicitInpainter(TINY).eval()
    z = model.encode(torch.rand(2, 3, 12, 10), torch.ones(2, 1, 12, 10))
    with torch.no_grad():
        whole = model.render(z, 37, 29)
        monkeypatch.setattr(network, "RENDER_CHUNK", 100)  # 11 chunks, the last one short
        ticks = []
        chunked = model.render(z, 37, 29, on_chunk=lambda: ticks.append(1))
    assert chunked.shape == (2, 3, 37, 29) and len(ticks) == 11
    assert torch.allclose(chunked, whole, atol=1e-6)


def test_fast_path_equals_sampling_at_pixel_centres():
    model = ImplicitInpainter(TINY)
    img, mask = torch.rand(2, 3, 12, 10), (torch.rand(2, 1, 12, 10) > 0.5).float()
    z = model.encode(img, mask)
    fast = model.decode_grid(z)
    coords = pixel_centres(12, 10).expand(2, -1, -1)
    slow = model.query(z, coords).transpose(1, 2).reshape(2, 3, 12, 10)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)


def test_hole_only_decoding_equals_the_grid_on_holes_and_is_zero_elsewhere():
    for cfg in (TINY, ModelConfig(width=8, coarse_width=12, hidden=16, depth=2,
                                  use_coords=False, probabilistic=True)):
        model = ImplicitInpainter(cfg)
        img, mask = torch.rand(3, 3, 9, 11), (torch.rand(3, 1, 9, 11) > 0.5).float()
        for layout in (torch.contiguous_format, torch.channels_last):
            z = model.encode(img, mask).contiguous(memory_format=layout)
            grid, holes = model.decode_grid(z), model.decode_holes(z, mask)
            hole = (mask == 0).expand_as(grid)
            torch.testing.assert_close(holes[hole], grid[hole], atol=1e-6, rtol=1e-6)
            assert not holes[~hole].any()
    nothing_missing = torch.ones(3, 1, 9, 11)
    assert not model.decode_holes(z, nothing_missing).any()  # no hole: nothing to decode


def test_decoding_only_the_holes_leaves_the_training_loss_and_gradients_unchanged():
    from impaint.train.losses import inpainting_loss
    model = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=2,
                                          probabilistic=True))
    img, mask = torch.rand(2, 3, 8, 8), (torch.rand(2, 1, 8, 8) > 0.5).float()
    losses, grads = [], []
    for holes_of in (None, mask):
        model.zero_grad()
        pred, sigma = model(img, mask, with_sigma=True, holes_of=holes_of)
        loss, _ = inpainting_loss(pred, compose(img, mask, pred), img, mask, 1.0, 0.1, sigma)
        loss.backward()
        losses.append(loss.detach())
        grads.append([p.grad.clone() for p in model.parameters()])
    torch.testing.assert_close(losses[0], losses[1])
    for full, holes in zip(*grads):
        torch.testing.assert_close(holes, full, atol=1e-6, rtol=1e-5)
    assert grads[1][0].abs().sum() > 0  # the encoder still learns


def test_pixel_centres_follow_align_corners_false():
    c = pixel_centres(2, 4)
    assert torch.allclose(c[0], torch.tensor([-0.75, -0.5]))
    assert torch.allclose(c[-1], torch.tensor([0.75, 0.5]))


def test_known_pixels_are_returned_bit_exactly():
    model = ImplicitInpainter(TINY)
    img = torch.rand(3, 3, 16, 16)
    mask = (torch.rand(3, 1, 16, 16) > 0.4).float()
    out = inpaint(model, img, mask)
    known = mask.bool().expand_as(img)
    assert torch.equal(out[known], img[known])
    assert not torch.equal(out[~known], img[~known])  # the holes really were filled
    model.train()  # a model being trained goes on training after a pass
    inpaint(model, img, mask, scale=2)
    assert model.training and not model.eval().training


def test_compose_ignores_nan_predictions_on_known_pixels():
    img, mask = torch.rand(1, 3, 4, 4), torch.ones(1, 1, 4, 4)
    mask[..., 0, 0] = 0
    out = compose(img, mask, torch.full_like(img, float("nan")))
    known = mask.bool().expand_as(img)
    assert torch.equal(out[known], img[known])  # every known pixel, row 0's too
    assert out[..., 0, 0].isnan().all()  # the hole took the prediction


def test_scale_renders_larger_and_keeps_known_pixels():
    model = ImplicitInpainter(TINY)
    img, mask = torch.rand(1, 3, 8, 8), (torch.rand(1, 1, 8, 8) > 0.5).float()
    out = inpaint(model, img, mask, scale=2)
    assert out.shape == (1, 3, 16, 16)
    assert torch.equal(out[..., ::2, ::2][mask.bool().expand_as(img)],
                       img[mask.bool().expand_as(img)])


def test_gradients_reach_encoder_and_decoder():
    model = ImplicitInpainter(TINY)
    model(torch.rand(1, 3, 8, 8), (torch.rand(1, 1, 8, 8) > 0.5).float()).sum().backward()
    assert model.encoder.stem.weight.grad.abs().sum() > 0
    assert model.decoder.out.weight.grad.abs().sum() > 0


def test_without_coordinates_the_decoder_input_shrinks():
    cfg = ModelConfig(width=8, coarse_width=12, hidden=16, depth=2, use_coords=False)
    model = ImplicitInpainter(cfg)
    assert model.decoder.hidden[0].in_features == 8
    assert model(torch.rand(1, 3, 8, 8), torch.ones(1, 1, 8, 8)).shape == (1, 3, 8, 8)


def test_probabilistic_decoder_shapes_positive_sigma_and_budget():
    from impaint.model import SIGMA_MIN, inpaint_with_std
    model = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=2,
                                          probabilistic=True))
    img, mask = torch.rand(2, 3, 8, 8), (torch.rand(2, 1, 8, 8) > 0.5).float()
    mean, sigma = model.forward_dist(img, mask)
    assert mean.shape == sigma.shape == (2, 3, 8, 8)
    assert (sigma >= SIGMA_MIN).all()
    out, std = inpaint_with_std(model, img, mask)
    known = mask.bool().expand_as(img)
    assert torch.equal(out[known], img[known]) and (std[known] == 0).all()
    assert (std[~known] > 0).all()
    extra = count_parameters(ImplicitInpainter(ModelConfig(probabilistic=True))) - \
        count_parameters(ImplicitInpainter())
    assert extra == 128 * 3 + 3  # one more output per channel: the budget barely moves


def test_deterministic_model_has_no_sigma():
    from impaint.model import inpaint_with_std
    model = ImplicitInpainter(TINY)
    assert inpaint_with_std(model, torch.rand(1, 3, 8, 8), torch.ones(1, 1, 8, 8))[1] is None


def test_conv_decoder_decodes_grids_at_any_size_but_not_coordinates():
    import pytest
    cfg = ModelConfig(width=8, coarse_width=12, hidden=6, depth=2, decoder="conv")
    model = ImplicitInpainter(cfg)
    img, mask = torch.rand(1, 3, 8, 8), (torch.rand(1, 1, 8, 8) > 0.5).float()
    assert model(img, mask).shape == (1, 3, 8, 8)
    assert inpaint(model, img, mask, scale=2).shape == (1, 3, 16, 16)
    with pytest.raises(ValueError, match="grids only"):
        model.query(model.encode(img, mask), torch.zeros(1, 4, 2))
    with pytest.raises(ValueError, match="unknown decoder"):
        ImplicitInpainter(ModelConfig(decoder="hypernet"))


def test_gated_unet_baseline_has_the_model_interface_and_budget():
    import pytest
    from impaint.model import build_model
    unet = build_model(ModelConfig(arch="unet"))
    n = count_parameters(unet)
    assert abs(n - 4.7e5) / 4.7e5 < 0.10, n
    img, mask = torch.rand(2, 3, 32, 32), (torch.rand(2, 1, 32, 32) > 0.5).float()
    out = inpaint(unet, img, mask)
    known = mask.bool().expand_as(img)
    assert out.shape == img.shape and torch.equal(out[known], img[known])
    assert inpaint(unet, img, mask, scale=2).shape == (2, 3, 64, 64)
    with pytest.raises(ValueError, match="unknown arch"):
        build_model(ModelConfig(arch="transformer"))


def test_liif_local_decoder_fast_path_equals_its_local_ensemble_at_pixel_centres():
    cfg = ModelConfig(width=8, coarse_width=12, hidden=16, depth=2, decoder="liif")
    model = ImplicitInpainter(cfg)
    assert count_parameters(model) == count_parameters(ImplicitInpainter(TINY))
    img, mask = torch.rand(2, 3, 6, 10), (torch.rand(2, 1, 6, 10) > 0.5).float()
    z = model.encode(img, mask)
    grid = model.decode_grid(z)
    ensemble = model.query(z, pixel_centres(6, 10).expand(2, -1, -1))
    torch.testing.assert_close(grid, ensemble.transpose(1, 2).reshape(2, 3, 6, 10),
                               atol=1e-5, rtol=1e-5)
    big = inpaint(model, img, mask, scale=3)
    assert big.shape == (2, 3, 18, 30) and torch.isfinite(big).all()


@pytest.mark.parametrize("decoder", ["mlp", "liif"])
def test_queries_under_bf16_sample_at_their_own_positions(decoder):
    """Z is bf16 under autocast; the query positions stay fp32 (in bf16, 2048 columns
    collapse onto 898, up to 1.5 px off: a Z that varies per pixel is read elsewhere)."""
    from dataclasses import replace

    from impaint.model import pixel_centres

    torch.manual_seed(0)
    model = ImplicitInpainter(replace(TINY, decoder=decoder)).eval()
    z = torch.rand(1, model.cfg.width, 8, 512)
    coords = pixel_centres(1, 2048)[None]  # one row of a 4x render
    with torch.no_grad():
        exact = model.query(z.bfloat16().float(), coords)
        with torch.autocast("cpu", torch.bfloat16):
            low = model.query(z.bfloat16(), coords)
    assert (low.float() - exact).abs().max() < 0.02  # bf16 arithmetic only (0.06 before)
