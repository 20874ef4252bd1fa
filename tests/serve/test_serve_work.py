"""The work of one request (work.py), through the API: known pixels kept, what the file was
(alpha, greyscale, 16 bits) kept, scales, flips, rounds, σ, samples, a graph backend's x1."""

import io

import httpx
import numpy as np
import pytest
from PIL import Image

from impaint.model import ImplicitInpainter, ModelConfig
from impaint.serve.app import create_app
from impaint.serve.server import running

from .conftest import assert_one_line_error, box_mask, decode, encode, mask_png, noise_image, post


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_known_pixels_are_the_inputs(shipped_url, fmt):
    data = encode(noise_image(), fmt)
    hole = box_mask()
    r = post(shipped_url, data, mask_png(hole))
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    out, original = decode(r.content), decode(data)  # the file as any decoder reads it
    assert out.shape == original.shape
    assert np.array_equal(out[~hole], original[~hole])
    assert (out[hole] != original[hole]).any(-1).mean() > 0.9


def test_transparency_comes_back(shipped_url):
    rgb = noise_image()
    alpha = np.random.default_rng(1).integers(0, 256, rgb.shape[:2], dtype=np.uint8)
    hole = box_mask()
    r = post(shipped_url, encode(np.dstack([rgb, alpha])), mask_png(hole))
    with Image.open(io.BytesIO(r.content)) as im:
        out = np.asarray(im)
    assert out.shape == (40, 56, 4) and np.array_equal(out[..., 3], alpha)
    assert np.array_equal(out[..., :3][~hole], rgb[~hole])


def test_a_greyscale_image_comes_back_greyscale_with_its_colour_profile(shipped_url):
    from PIL import ImageCms

    grey = noise_image()[..., 1]
    hole = box_mask()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, format="PNG", icc_profile=icc)
    r = post(shipped_url, buf.getvalue(), mask_png(hole))
    with Image.open(io.BytesIO(r.content)) as im:
        assert im.mode == "L" and im.info.get("icc_profile") == icc
        out = np.asarray(im)
    assert np.array_equal(out[~hole], grey[~hole]) and not np.array_equal(out[hole], grey[hole])


def test_16_bit_colour_comes_back_at_16_bits(shipped_url):
    import cv2

    wide = noise_image().astype(np.uint16) * 257 + 100  # values 8 bits cannot hold
    hole = box_mask()
    r = post(shipped_url, cv2.imencode(".png", wide[..., ::-1])[1].tobytes(), mask_png(hole))
    out = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_UNCHANGED)[..., ::-1]
    assert out.dtype == np.uint16 and np.array_equal(out[~hole], wide[~hole])
    assert not np.array_equal(out[hole], wide[hole])


def test_preview_shows_what_the_browser_cannot(shipped_url):
    """TIFF (and HEIC, 16-bit) -> an 8-bit PNG, upright, for the page's canvas."""
    import cv2

    wide = noise_image().astype(np.uint16) * 257 + 100
    tiff = cv2.imencode(".tiff", wide[..., ::-1])[1].tobytes()
    r = httpx.post(f"{shipped_url}/api/preview", files={"image": ("scan.tif", tiff)}, timeout=60)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert np.array_equal(decode(r.content), (wide / 257).round().astype(np.uint8))
    r = httpx.post(f"{shipped_url}/api/preview", files={"image": ("notes.tif", b"not an image")})
    assert_one_line_error(r, 400, "not a readable image: notes.tif")
    r = httpx.post(f"{shipped_url}/api/preview", files={"picture": ("a.png", tiff)})
    assert_one_line_error(r, 400, "missing the image file")


@pytest.mark.parametrize("scale", [2, 4])
def test_output_scale(shipped_url, scale):
    """x2 / x4: the known pixels as K x K blocks of the input's, exactly (PNG)."""
    image, hole = noise_image(), box_mask()
    r = post(shipped_url, encode(image), mask_png(hole), scale=scale)
    assert r.status_code == 200, r.text
    out = decode(r.content)
    assert out.shape == (40 * scale, 56 * scale, 3)
    big_hole = hole.repeat(scale, 0).repeat(scale, 1)
    big_image = image.repeat(scale, 0).repeat(scale, 1)
    assert np.array_equal(out[~big_hole], big_image[~big_hole])


def test_flips_average_mirror_images_and_keep_known_pixels(shipped_url):
    data, hole = encode(noise_image()), box_mask()
    plain, flipped = (decode(post(shipped_url, data, mask_png(hole), flips=n).content)
                      for n in (1, 8))
    assert np.array_equal(flipped[~hole], decode(data)[~hole])
    assert (flipped[hole] != plain[hole]).any()
    assert httpx.get(f"{shipped_url}/api/info").json()["flips"] == [1, 2, 4, 8]


def test_without_flips_or_rounds_the_averaging_goes_by_the_images_size(shipped_url):
    """40x56 px: 8 flips and 8 rounds (`auto_averaged`), as `impaint inpaint` does."""
    data = encode(noise_image())
    hole = np.random.default_rng(1).random((40, 56)) < 0.5
    auto, best, plain = (decode(post(shipped_url, data, mask_png(hole), **fields).content)
                         for fields in ({}, {"flips": 8, "rounds": 8}, {"flips": 1}))
    assert np.array_equal(auto, best) and (auto[hole] != plain[hole]).any()


def test_rounds_refill_scattered_holes_and_keep_known_pixels(shipped_url):
    data = encode(noise_image())
    hole = np.random.default_rng(0).random((40, 56)) < 0.5  # scattered: one pass, re-filled
    plain, rounds = (decode(post(shipped_url, data, mask_png(hole), rounds=n).content)
                     for n in (0, 4))
    assert np.array_equal(rounds[~hole], decode(data)[~hole])
    assert (rounds[hole] != plain[hole]).any()
    assert httpx.get(f"{shipped_url}/api/info").json()["max_rounds"] == 16


def test_sigma_heat_map(shipped_url):
    hole = box_mask()
    r = post(shipped_url, encode(noise_image()), mask_png(hole), view="sigma")
    heat = decode(r.content)
    assert heat.shape == (40, 56, 3)
    known = heat[~hole]
    assert (known == known[0]).all()  # σ = 0: one colour
    assert (heat[hole] != known[0]).any(-1).all()


def test_samples_of_a_stochastic_model():
    cfg = ModelConfig(width=8, coarse_width=12, hidden=16, depth=2, latent_dim=4)
    model = ImplicitInpainter(cfg)
    data, hole = encode(noise_image()), box_mask()
    with running(create_app(model, "stochastic")) as url:
        assert httpx.get(f"{url}/api/info").json()["stochastic"]
        one, two = (decode(post(url, data, mask_png(hole), sample=k).content) for k in (1, 2))
        assert np.array_equal(one[~hole], two[~hole])
        assert not np.array_equal(one[hole], two[hole])
        assert_one_line_error(post(url, data, mask_png(hole), view="sigma"), 400, "no σ")
        assert_one_line_error(post(url, data, mask_png(hole), sample=1, scale=2), 400, "×1")
        assert_one_line_error(post(url, data, mask_png(hole), sample=1, flips=2), 400,
                              "without flips or rounds")
        assert_one_line_error(post(url, data, mask_png(hole), sample=1, rounds=2), 400,
                              "without flips or rounds")
        assert_one_line_error(post(url, data, mask_png(hole), sample=1, view="sigma"), 400,
                              "a sample is one draw: it has no σ")
        # a sample keeps what the file was, as the mean does: its alpha, its 16-bit grey
        rgb = noise_image()
        alpha = np.random.default_rng(1).integers(0, 256, rgb.shape[:2], dtype=np.uint8)
        r = post(url, encode(np.dstack([rgb, alpha])), mask_png(hole), sample=1)
        with Image.open(io.BytesIO(r.content)) as im:
            out = np.asarray(im)
        assert out.shape == (40, 56, 4) and np.array_equal(out[..., 3], alpha)
        assert np.array_equal(out[..., :3][~hole], rgb[~hole])
        grey = noise_image()[..., 0].astype(np.uint16) * 257 + 100  # values 8 bits cannot hold
        buf = io.BytesIO()
        Image.fromarray(grey).save(buf, format="PNG")
        r = post(url, buf.getvalue(), mask_png(hole), sample=1)
        with Image.open(io.BytesIO(r.content)) as im:
            assert im.mode.startswith("I")
            out = np.asarray(im)
        assert np.array_equal(out[~hole], grey[~hole])


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_a_graph_fill_serves_x1_and_torch_the_rest(tiny_checkpoint, runtime):
    pytest.importorskip(runtime)
    from impaint.checkpoint import load_model
    from impaint.inference.onnx_backend import load_backend

    fill = load_backend(runtime, tiny_checkpoint)
    with running(create_app(load_model(tiny_checkpoint), fill=fill)) as url:
        assert httpx.get(f"{url}/api/info").json()["backend"] == runtime
        data, hole = encode(noise_image()), box_mask()
        out = decode(post(url, data, mask_png(hole)).content)
        assert np.array_equal(out[~hole], decode(data)[~hole])
        assert decode(post(url, data, mask_png(hole), scale=2).content).shape == (80, 112, 3)
