from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from impaint.inference.files import InputError, inpaint_paths, read_image
from impaint.inference.pipeline import Pyramid
from impaint.inference.image_files import read_original, write_image
from tests.helpers import save_mask


@pytest.fixture
def pair(tmp_path, image_folder):
    image = sorted(image_folder.iterdir())[0]
    h, w = read_image(image).shape[-2:]
    hole = np.zeros((h, w), bool)
    hole[10:20, 12:30] = True
    save_mask(tmp_path / "mask.png", hole)
    png = tmp_path / "image.png"  # lossless, so known pixels can be compared exactly
    Image.open(image).save(png)
    return png, tmp_path / "mask.png", hole


def test_inpaint_file_keeps_known_pixels(pair, tmp_path, tiny_checkpoint):
    image, mask, hole = pair
    out = inpaint_paths(image, mask, tmp_path / "out.png", checkpoint=tiny_checkpoint)[0]
    a, b = np.asarray(Image.open(out)), np.asarray(Image.open(image))
    assert a.shape == b.shape
    assert np.array_equal(a[~hole], b[~hole])


def test_transparency_is_kept(pair, tmp_path, tiny_checkpoint):
    """An RGBA input comes back RGBA with its own alpha (repeated at --scale); colour is what
    is filled. A JPEG output cannot hold alpha and is written without it."""
    image, mask, hole = pair
    rgb = np.asarray(Image.open(image).convert("RGB"))
    alpha = np.random.default_rng(0).integers(0, 256, rgb.shape[:2], dtype=np.uint8)
    Image.fromarray(np.dstack([rgb, alpha])).save(tmp_path / "cutout.png")
    out = inpaint_paths(tmp_path / "cutout.png", mask, tmp_path / "o.png",
                        checkpoint=tiny_checkpoint)[0]
    a = np.asarray(Image.open(out))
    assert a.shape == rgb.shape[:2] + (4,) and np.array_equal(a[..., 3], alpha)
    assert np.array_equal(a[..., :3][~hole], rgb[~hole])
    big = inpaint_paths(tmp_path / "cutout.png", mask, tmp_path / "big.png",
                        checkpoint=tiny_checkpoint, scale=2)[0]
    assert np.array_equal(np.asarray(Image.open(big))[::2, ::2, 3], alpha)
    jpeg = inpaint_paths(tmp_path / "cutout.png", mask, tmp_path / "o.jpg",
                         checkpoint=tiny_checkpoint)[0]
    assert Image.open(jpeg).mode == "RGB"
    # An opaque image stays RGB.
    assert Image.open(inpaint_paths(image, mask, tmp_path / "rgb.png",
                                    checkpoint=tiny_checkpoint)[0]).mode == "RGB"


def test_greyscale_files_come_back_greyscale_at_their_bit_depth(pair, tmp_path,
                                                                  tiny_checkpoint):
    """A grey scan comes back grey (L), with its known pixels exact; a 16-bit one is read at
    its 16 bits (not clipped to white) and written back 16-bit where the format holds it."""
    image, mask, hole = pair
    grey = np.asarray(Image.open(image).convert("L"))
    Image.fromarray(grey).save(tmp_path / "scan.png")
    out = Image.open(inpaint_paths(tmp_path / "scan.png", mask, tmp_path / "o.png",
                                   checkpoint=tiny_checkpoint)[0])
    a = np.asarray(out)
    assert out.mode == "L" and np.array_equal(a[~hole], grey[~hole])
    assert not np.array_equal(a[hole], grey[hole])
    wide = grey.astype(np.uint16) * 257 + np.arange(grey.size, dtype=np.uint16).reshape(
        grey.shape) % 200  # values that 8 bits cannot hold
    Image.fromarray(wide).save(tmp_path / "scan16.png")
    assert read_image(tmp_path / "scan16.png").max() < 1  # not clipped at 255/65535
    assert torch.allclose(read_image(tmp_path / "scan16.png")[0],
                          torch.from_numpy(wide / 65535).float())
    out = Image.open(inpaint_paths(tmp_path / "scan16.png", mask, tmp_path / "o16.png",
                                   checkpoint=tiny_checkpoint)[0])
    a = np.asarray(out)
    assert out.mode.startswith("I;16") and np.array_equal(a[~hole], wide[~hole])
    jpeg = Image.open(inpaint_paths(tmp_path / "scan16.png", mask, tmp_path / "o.jpg",
                                    checkpoint=tiny_checkpoint)[0])
    assert jpeg.mode == "L"  # JPEG holds 8 bits


def test_16_bit_colour_comes_back_at_16_bits(pair, tmp_path, tiny_checkpoint):
    """A 16-bit colour PNG or TIFF (a raw developer's export) is read at its 16 bits, and its
    known pixels come back at their own 16-bit values, with its alpha, colour profile and
    EXIF in a PNG; a JPEG gets 8 bits."""
    import cv2
    import tifffile
    from PIL import ImageCms

    image, mask, hole = pair
    rgb = np.asarray(Image.open(image).convert("RGB")).astype(np.uint16) * 257
    wide = rgb + np.arange(rgb.size, dtype=np.uint16).reshape(rgb.shape) % 199  # not 8-bit
    alpha = np.full(hole.shape, 65535, np.uint16)
    alpha[:3] = 1000
    cv2.imwrite(str(tmp_path / "raw16.tif"), wide[..., ::-1])  # LZW: OpenCV reads it
    cv2.imwrite(str(tmp_path / "cut16.png"), np.dstack([wide, alpha])[..., [2, 1, 0, 3]])
    # planar RGB, which OpenCV and Pillow both garble: tifffile reads it
    tifffile.imwrite(tmp_path / "planar16.tif", np.moveaxis(wide, -1, 0).copy(),
                     planarconfig="separate", photometric="rgb", rowsperstrip=8)
    for name in ("raw16.tif", "cut16.png", "planar16.tif"):
        assert torch.allclose(read_image(tmp_path / name),
                              torch.from_numpy(wide / 65535).permute(2, 0, 1).float())
        out = inpaint_paths(tmp_path / name, mask, tmp_path / ("o" + name),
                            checkpoint=tiny_checkpoint)[0]
        a = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
        assert a.dtype == np.uint16 and a.shape[2] == (4 if "cut" in name else 3), name
        assert np.array_equal(a[..., 2::-1][~hole], wide[~hole]), name
        assert not np.array_equal(a[..., 2::-1][hole], wide[hole]), name
        if "cut" in name:
            assert np.array_equal(a[..., 3], alpha)
    # a PNG gets the input's profile and EXIF, which OpenCV's encoder does not write
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    original = replace(read_original(tmp_path / "raw16.tif"), icc=icc,
                       exif=_exif_with_camera("TestCam"))
    out = write_image(read_image(tmp_path / "raw16.tif"), tmp_path / "kept.png", original)
    with Image.open(out) as im:
        assert im.info["icc_profile"] == icc and im.getexif()[0x010F] == "TestCam"
    tiff = write_image(read_image(tmp_path / "raw16.tif"), tmp_path / "kept.tif", original)
    with Image.open(tiff) as im:  # tifffile writes the profile too
        assert im.info["icc_profile"] == icc
    assert tifffile.imread(tiff).dtype == np.uint16
    jpeg = inpaint_paths(tmp_path / "raw16.tif", mask, tmp_path / "o.jpg",
                         checkpoint=tiny_checkpoint)[0]
    assert Image.open(jpeg).mode == "RGB"


def _exif_with_camera(make: str) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = make
    return exif.tobytes()


def test_the_colour_profile_is_kept(pair, tmp_path, tiny_checkpoint):
    """A photo with an embedded ICC profile (a phone's Display P3, say) keeps it, whatever
    the output format; one without gets none."""
    from PIL import ImageCms

    image, mask, _ = pair
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.open(image).save(tmp_path / "p3.jpg", icc_profile=icc, quality=95)
    for name in ("o.png", "o.jpg", "o.webp"):
        out = inpaint_paths(tmp_path / "p3.jpg", mask, tmp_path / name,
                            checkpoint=tiny_checkpoint)[0]
        assert Image.open(out).info.get("icc_profile") == icc, name
    plain = inpaint_paths(image, mask, tmp_path / "plain.png", checkpoint=tiny_checkpoint)[0]
    assert "icc_profile" not in Image.open(plain).info


def test_heic_photos_are_read_with_pillow_heif(pair, tmp_path, tiny_checkpoint, monkeypatch):
    """iPhones' HEIC photos, through the `heic` extra (in the test extra, so CI runs this);
    without it, one line that says what to install."""
    pillow_heif = pytest.importorskip("pillow_heif")
    from impaint.inference import image_read

    image, mask, hole = pair
    pillow_heif.from_pillow(Image.open(image).convert("RGB")).save(tmp_path / "phone.heic")
    out = inpaint_paths(tmp_path / "phone.heic", mask, tmp_path / "o.png",
                        checkpoint=tiny_checkpoint)[0]
    decoded = np.asarray(Image.open(tmp_path / "phone.heic").convert("RGB"))  # lossy: as read
    a = np.asarray(Image.open(out))
    assert a.shape == decoded.shape and np.array_equal(a[~hole], decoded[~hole])
    monkeypatch.setattr(image_read, "heif_support", lambda: False)
    with pytest.raises(InputError, match=r"phone.heic is HEIC/HEIF: reading it needs "
                                         r"pillow-heif \(pip install 'impaint\[heic\]'\)"):
        inpaint_paths(tmp_path / "phone.heic", mask, tmp_path / "o2.png",
                      checkpoint=tiny_checkpoint)


def test_a_10_bit_heic_is_read_at_its_10_bits(pair, tmp_path, tiny_checkpoint):
    """A 10-bit HEIC (an HDR phone photo) is read at its own bits, not pillow-heif's default
    8, and written back at 16 bits where the format holds them, its known pixels exact."""
    pillow_heif = pytest.importorskip("pillow_heif")
    import cv2

    _, mask, hole = pair
    h, w = hole.shape
    ramp = np.linspace(0, 65535, h * w * 3).reshape(h, w, 3).astype(np.uint16)  # 10-bit steps
    pillow_heif.from_bytes(mode="RGB;16", size=(w, h), data=ramp.tobytes()).save(
        tmp_path / "hdr.heic", quality=-1)
    # (H, W, 3) uint16: the 10 bits, shifted up by 6
    decoded = np.asarray(pillow_heif.open_heif(tmp_path / "hdr.heic", convert_hdr_to_8bit=False))
    assert decoded.dtype == np.uint16 and len(np.unique(decoded)) > 256
    assert read_original(tmp_path / "hdr.heic").bits == 16
    assert torch.equal(read_image(tmp_path / "hdr.heic"),
                       torch.from_numpy(decoded / 65535).permute(2, 0, 1).float())
    out = inpaint_paths(tmp_path / "hdr.heic", mask, tmp_path / "hdr.png",
                        checkpoint=tiny_checkpoint)[0]
    a = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[..., ::-1]
    assert a.dtype == np.uint16 and np.array_equal(a[~hole], decoded[~hole])
    assert not np.array_equal(a[hole], decoded[hole])
    jpeg = inpaint_paths(tmp_path / "hdr.heic", mask, tmp_path / "hdr.jpg",
                         checkpoint=tiny_checkpoint)[0]
    assert Image.open(jpeg).mode == "RGB"


def test_exif_is_kept_less_its_orientation(pair, tmp_path, tiny_checkpoint):
    """Camera and date stay with the photo; the orientation goes, as the output is upright."""
    image, mask, _ = pair
    rgb = np.asarray(Image.open(image).convert("RGB"))
    exif = Image.Exif()
    exif[0x010F], exif[0x0112] = "impaint-test", 3  # maker; orientation: upside down
    Image.fromarray(rgb[::-1, ::-1]).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    for name in ("o.png", "o.jpg"):
        out = Image.open(inpaint_paths(tmp_path / "phone.jpg", mask, tmp_path / name,
                                       checkpoint=tiny_checkpoint)[0])
        assert out.getexif().get(0x010F) == "impaint-test" and 0x0112 not in out.getexif()


def test_samples_come_back_of_the_input_kind(pair, tmp_path, monkeypatch):
    """K completions of a grey scan: K grey files, known pixels exact, fills that differ."""
    from impaint.model import save_checkpoint
    from tests.helpers import STOCHASTIC, stochastic_model

    image, mask, hole = pair
    ckpt = tmp_path / "latent.safetensors"
    save_checkpoint(ckpt, stochastic_model(),
                    {"model_config": STOCHASTIC.to_dict(), "image_size": 32, "step": 0})
    grey = np.asarray(Image.open(image).convert("L"))
    Image.fromarray(grey).save(tmp_path / "scan.png")
    outs = inpaint_paths(tmp_path / "scan.png", mask, tmp_path / "s.png", checkpoint=ckpt,
                         samples=2)
    assert [p.name for p in outs] == ["s_1.png", "s_2.png"]
    a, b = (np.asarray(Image.open(p)) for p in outs)
    assert Image.open(outs[0]).mode == "L" and np.array_equal(a[~hole], grey[~hole])
    assert not np.array_equal(a[hole], b[hole])
    # Over the cap (a sample is decoded whole: some 2 GB a megapixel), one line, no file.
    monkeypatch.setattr("impaint.inference.files.MAX_SAMPLE_PIXELS", grey.size - 1)
    with pytest.raises(InputError, match=r"--samples draws on at most .* crop or downscale"):
        inpaint_paths(tmp_path / "scan.png", mask, tmp_path / "t.png", checkpoint=ckpt,
                      samples=2)
    assert not list(tmp_path.glob("t_*.png"))


def test_scale_renders_a_larger_image(pair, tmp_path, tiny_checkpoint):
    image, mask, _ = pair
    out = inpaint_paths(image, mask, tmp_path / "big.png", checkpoint=tiny_checkpoint, scale=2)[0]
    w, h = Image.open(image).size
    assert Image.open(out).size == (2 * w, 2 * h)


def test_folders_are_matched_by_name(tmp_path, image_folder, tiny_checkpoint):
    masks = tmp_path / "masks"
    masks.mkdir()
    for p in sorted(image_folder.iterdir())[:3]:
        hole = np.zeros(read_image(p).shape[-2:], bool)
        hole[5:15, 5:15] = True
        save_mask(masks / (p.stem + ".png"), hole)
    written = inpaint_paths(image_folder, masks, tmp_path / "out", checkpoint=tiny_checkpoint,
                            progress=False)
    assert sorted(p.name for p in written) == sorted(p.stem + ".png" for p in
                                                     sorted(image_folder.iterdir())[:3])


def test_bad_inputs(pair, tmp_path, tiny_checkpoint):
    image, mask, hole = pair
    run = lambda i, m: inpaint_paths(i, m, tmp_path / "o.png", checkpoint=tiny_checkpoint)
    with pytest.raises(InputError, match="image not found"):
        run(tmp_path / "nope.png", mask)
    text = tmp_path / "notes.png"
    text.write_text("hello")
    with pytest.raises(InputError, match="not a readable image"):
        run(text, mask)
    small = tmp_path / "small.png"
    save_mask(small, hole[:10, :10])
    with pytest.raises(InputError, match=f"differs from {image.name} size"):
        run(image, small)
    empty = tmp_path / "empty.png"
    save_mask(empty, np.zeros_like(hole))
    with pytest.raises(InputError, match="no hole"):
        run(image, empty)
    full = tmp_path / "full.png"
    save_mask(full, np.ones_like(hole))
    with pytest.raises(InputError, match="hides every pixel"):
        run(image, full)
    with pytest.raises(InputError, match=r"cannot write o.xyz: name the output .png"):
        inpaint_paths(image, mask, tmp_path / "o.xyz", checkpoint=tiny_checkpoint)
    with pytest.raises(InputError, match=r"--scale renders at most 67 Mpx"):
        inpaint_paths(image, mask, tmp_path / "o.png", checkpoint=tiny_checkpoint, scale=512)
    from impaint.inference.fill import check_scale
    with pytest.raises(InputError,
                       match=r"--scale ×2 or ×4 takes at most 4.2 Mpx \(2048×2048\) in"):
        check_scale(2, (2049, 2048))
    check_scale(2, (2048, 2048))  # the largest: 4.5 GB at x2
    check_scale(1, (4096, 4096))  # x1 works in tiles
    assert not (tmp_path / "o.png").exists()


def test_uncertainty_map_for_a_probabilistic_checkpoint(pair, tmp_path):
    from impaint.model import save_checkpoint
    from impaint.model import ImplicitInpainter, ModelConfig
    cfg = ModelConfig(width=8, coarse_width=12, hidden=16, depth=2, probabilistic=True)
    ckpt = tmp_path / "prob.safetensors"
    save_checkpoint(ckpt, ImplicitInpainter(cfg), {"model_config": cfg.to_dict()})
    image, mask, hole = pair
    written = inpaint_paths(image, mask, tmp_path / "o.png", checkpoint=ckpt,
                            uncertainty=tmp_path / "sigma.png")
    assert [p.name for p in written] == ["o.png", "sigma.png", "sigma.npy"]
    sigma = np.load(tmp_path / "sigma.npy")
    assert sigma.shape == (3, *hole.shape)
    assert (sigma[:, hole] > 0).all() and (sigma[:, ~hole] == 0).all()
    jpeg = inpaint_paths(image, mask, tmp_path / "o2.png", checkpoint=ckpt,
                         uncertainty=tmp_path / "map.jpg")  # the format asked for, + .npy
    assert [p.name for p in jpeg] == ["o2.png", "map.jpg", "map.npy"]
    assert Image.open(tmp_path / "map.jpg").format == "JPEG"


def test_uncertainty_needs_a_probabilistic_checkpoint(pair, tmp_path, tiny_checkpoint):
    image, mask, _ = pair
    with pytest.raises(InputError, match="predicts no uncertainty"):
        inpaint_paths(image, mask, tmp_path / "o.png", checkpoint=tiny_checkpoint,
                      uncertainty=tmp_path / "s.png")


def test_a_folder_goes_on_past_a_bad_pair(tmp_path, image_folder, tiny_checkpoint):
    masks = tmp_path / "masks"
    masks.mkdir()
    images = sorted(image_folder.iterdir())[:5]
    for p in images:
        hole = np.zeros(read_image(p).shape[-2:], bool)
        hole[5:15, 5:15] = True
        save_mask(masks / (p.stem + ".png"), hole)
    images[2].write_text("not an image")  # the third of five
    with pytest.raises(InputError, match=f"1 of 5 pairs failed .*{images[2].name}: not a read"):
        inpaint_paths(image_folder, masks, tmp_path / "out", checkpoint=tiny_checkpoint,
                      progress=False)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == \
        [p.stem + ".png" for i, p in enumerate(images) if i != 2]


def test_a_folder_goes_on_past_a_backend_failing_on_one_image(tmp_path, tiny_checkpoint):
    """A runtime's failure on one image (here OpenVINO on a 1-px side, unpadded) is that
    pair's one-line failure, not the end of the run."""
    pytest.importorskip("openvino")
    from impaint.inference.files import inpaint_folder
    from impaint.inference.onnx_backend import OpenVinoInpainter
    from impaint.inference.onnx_export import cached_export

    for name, (h, w) in (("a", (37, 53)), ("b", (1, 40))):
        (tmp_path / "img").mkdir(exist_ok=True)
        (tmp_path / "msk").mkdir(exist_ok=True)
        Image.fromarray(np.full((h, w, 3), 120, np.uint8)).save(tmp_path / "img" / f"{name}.png")
        hole = np.zeros((h, w), bool)
        hole[0, :5] = True
        save_mask(tmp_path / "msk" / f"{name}.png", hole)
    backend = OpenVinoInpainter(cached_export(tiny_checkpoint), bf16=False)
    backend.grid = 1  # as if the model needed no padding: OpenVINO fails on the 1-px side
    report = inpaint_folder(backend, tmp_path / "img", tmp_path / "msk", tmp_path / "out",
                            progress=False, cfg=Pyramid())
    assert [p.name for p in report.written] == ["a.png"]
    [(failed, reason)] = report.failed
    assert failed.name == "b.png" and reason.startswith("openvino ") and "\n" not in reason


def test_the_image_is_never_its_own_mask(pair, tmp_path, image_folder, tiny_checkpoint):
    image, _, _ = pair
    with pytest.raises(InputError, match="is the image itself: give the mask file"):
        inpaint_paths(image, image, tmp_path / "o.png", checkpoint=tiny_checkpoint)
    with pytest.raises(InputError, match="is the image folder: each image would be its own"):
        inpaint_paths(image_folder, image_folder, tmp_path / "out", checkpoint=tiny_checkpoint,
                      progress=False)
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "out").exists()


def test_a_folder_skips_hidden_files_and_refuses_a_file_as_its_output(tmp_path, image_folder,
                                                                       tiny_checkpoint):
    masks = tmp_path / "masks"
    masks.mkdir()
    first = sorted(image_folder.iterdir())[0]
    hole = np.zeros(read_image(first).shape[-2:], bool)
    hole[5:15, 5:15] = True
    save_mask(masks / (first.stem + ".png"), hole)
    (image_folder / ("._" + first.name)).write_bytes(b"\0\5\26\7 AppleDouble")  # from a Mac
    (masks / ("._" + first.stem + ".png")).write_bytes(b"\0\5\26\7 AppleDouble")
    written = inpaint_paths(image_folder, masks, tmp_path / "out", checkpoint=tiny_checkpoint,
                            progress=False)  # no failure: the ._ files are no images
    assert [p.name for p in written] == [first.stem + ".png"]
    taken = tmp_path / "results"
    taken.write_text("notes")
    with pytest.raises(InputError, match="-o .*results is a file, but IMAGE is a folder"):
        inpaint_paths(image_folder, masks, taken, checkpoint=tiny_checkpoint, progress=False)
    assert taken.read_text() == "notes"


def test_samples_never_overwrite_the_input_and_are_what_is_checked(pair, tmp_path):
    """--samples K writes OUT_1 ... OUT_K, not OUT: those are checked against the input."""
    from impaint.inference.files import check_outputs

    image, mask, _ = pair
    taken = tmp_path / "out_1.png"
    taken.write_bytes(image.read_bytes())
    with pytest.raises(InputError, match=r"--samples would write .*out_1.png is the input"):
        check_outputs(taken, mask, tmp_path / "out.png", None, 2, 1, None)
    check_outputs(image, mask, tmp_path / "x.png", None, 2, 1, None)  # x_1, x_2: free
    check_outputs(taken, mask, tmp_path / "out_1.png", None, 2, 1, None)  # out_1_1, out_1_2
