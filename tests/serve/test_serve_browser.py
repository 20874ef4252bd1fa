"""The page as a person uses it, in a real headless Chromium (Debian's package, driven by
Playwright): open an image, paint a stroke, Inpaint, download, and check the file."""

import contextlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import noise_image

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package: .ci/run installs it
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: Debian's chromium package could not "
    "be installed here (.ci/run tries `apt-get install -y chromium`)")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, shipped_url):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
    page.on("request", lambda r: r.url.startswith((shipped_url, "blob:", "data:"))
            or page.problems.append(f"request outside the server: {r.url}"))
    page.goto(shipped_url)
    page.wait_for_selector("#model:has-text('parameters')")
    yield page
    context.close()


def open_image(page, path: Path) -> None:
    page.set_input_files("#file", str(path))
    page.wait_for_selector("#stage:not(.empty)")


def stroke(page, points) -> None:
    """Drag the mouse through `points` given as fractions of the canvas."""
    box = page.locator("#mask").bounding_box()
    xy = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()


def download(page, selector: str, path: Path) -> np.ndarray:
    with page.expect_download() as info:
        page.click(selector)
    info.value.save_as(path)
    return np.asarray(Image.open(path).convert("RGB"))


def test_paint_inpaint_download(page, tmp_path):
    original = noise_image(48, 64)
    Image.fromarray(original).save(tmp_path / "photo.png")
    open_image(page, tmp_path / "photo.png")
    stroke(page, [(0.2, 0.3), (0.5, 0.5), (0.8, 0.6)])
    page.click("#inpaint")
    page.wait_for_selector("#download-result:not([hidden])")
    result = download(page, "#download-result", tmp_path / "result.png")
    hole = download(page, "#download-mask", tmp_path / "mask.png")[..., 0] == 255  # white
    assert result.shape == original.shape and hole.shape == original.shape[:2]
    assert 0.02 < hole.mean() < 0.6  # the stroke, and nothing else
    assert hole[int(0.5 * 48), int(0.5 * 64)] and not hole[2, 60]
    assert np.array_equal(result[~hole], original[~hole])  # known pixels: the file's own
    assert (result[hole] != original[hole]).any(-1).mean() > 0.9
    assert page.locator("#message").inner_text().startswith("Done")
    assert page.problems == []


def test_without_a_mouse_a_mask_file_is_the_hole(page, tmp_path):
    """Keyboard only: Open mask (white = hole, the file Download mask writes), then Inpaint
    with Enter; the hole sent is the file's, and focus stays on Inpaint."""
    original = noise_image(48, 64)
    open_image(page, _save(tmp_path / "photo.png", original))
    hole = np.zeros((48, 64), bool)
    hole[10:30, 20:44] = True
    page.set_input_files("#mask-file", str(_save(tmp_path / "hole.png",
                                                 (hole * 255).astype(np.uint8))))
    page.wait_for_selector("#message:has-text('the hole it marks is painted')")
    page.focus("#inpaint")
    page.keyboard.press("Enter")
    page.wait_for_selector("#message:has-text('Done')")
    assert page.evaluate("document.activeElement.id") == "inpaint"
    sent = download(page, "#download-mask", tmp_path / "sent.png")[..., 0] == 255
    assert np.array_equal(sent, hole)
    result = download(page, "#download-result", tmp_path / "result.png")
    assert np.array_equal(result[~hole], original[~hole])
    # a mask of another size is refused in one line, the painted hole kept
    page.set_input_files("#mask-file", str(_save(tmp_path / "small.png",
                                                 np.zeros((8, 8), np.uint8))))
    page.wait_for_selector("#message.error:has-text('small.png is 8×8; the image is 64×48')")
    assert page.problems == []


def test_a_slow_fill_counts_the_seconds_it_waits(page, tmp_path):
    """The fill held back 2.5 s (as a large photo takes): the message counts up, then Done."""
    import time

    Image.fromarray(noise_image(48, 64)).save(tmp_path / "photo.png")
    open_image(page, tmp_path / "photo.png")
    stroke(page, [(0.2, 0.3), (0.8, 0.6)])
    page.evaluate("""() => { window.seen = []; const m = document.querySelector('#message');
        new MutationObserver(() => window.seen.push(m.textContent))
            .observe(m, {childList: true, characterData: true, subtree: true}); }""")
    page.route("**/api/inpaint", lambda route: (time.sleep(2.5), route.continue_()))
    page.click("#inpaint")
    page.wait_for_selector("#download-result:not([hidden])")
    seen = page.evaluate("window.seen")
    assert "Inpainting… 1 s" in seen and "Inpainting… 2 s" in seen, seen
    assert seen[-1].startswith("Done") and page.problems == []


def test_a_16_bit_tiff_is_shown_by_the_server_and_inpainted_at_its_16_bits(page, tmp_path):
    """Chromium shows no TIFF (nor HEIC): the server decodes it for the canvas, and the file
    itself, all 16 bits, is what gets inpainted (here with Best ticked: 8 flips, 8 rounds)."""
    import cv2

    wide = noise_image(48, 64).astype(np.uint16) * 257 + 77  # values 8 bits cannot hold
    cv2.imwrite(str(tmp_path / "scan.tif"), wide[..., ::-1])
    open_image(page, tmp_path / "scan.tif")
    assert "64×48" in page.locator("#message").inner_text()
    shown = page.evaluate("Array.from(document.getElementById('image').getContext('2d')"
                          ".getImageData(0, 0, 64, 48).data)")
    assert np.array_equal(np.array(shown, np.uint8).reshape(48, 64, 4)[..., :3],
                          (wide / 257).round().astype(np.uint8))
    stroke(page, [(0.2, 0.3), (0.5, 0.5), (0.8, 0.6)])
    page.check("#best")  # 8 mirror images and 8 rounds averaged: the known pixels stay the file's
    page.evaluate("""() => {  // what the form sends (Chromium does not show multipart bodies)
        const send = window.fetch; window.sent = [];
        window.fetch = (url, options) => {
            window.sent.push([options.body.get("flips"), options.body.get("rounds")]);
            return send(url, options); }; }""")
    page.click("#inpaint")
    page.wait_for_selector("#download-result:not([hidden])")
    assert page.evaluate("window.sent") == [["8", "8"]]
    with page.expect_download() as info:
        page.click("#download-result")
    info.value.save_as(tmp_path / "result.png")
    result = cv2.imread(str(tmp_path / "result.png"), cv2.IMREAD_UNCHANGED)[..., ::-1]
    hole = download(page, "#download-mask", tmp_path / "mask.png")[..., 0] == 255
    assert result.dtype == np.uint16 and 0.02 < hole.mean() < 0.6
    assert np.array_equal(result[~hole], wide[~hole])
    assert page.problems == []


def test_errors_are_shown_to_the_user(page, tmp_path):
    open_image(page, _save(tmp_path / "photo.png", noise_image(48, 64)))
    assert page.locator("#inpaint").is_disabled()  # nothing painted yet: nothing to fill
    stroke(page, [(0.4, 0.5), (0.6, 0.5)])
    assert page.locator("#inpaint").is_enabled()
    page.click("#undo")
    assert page.locator("#inpaint").is_disabled()
    page.click("#redo")
    page.check("input[name=tool][value=eraser]")  # painted, then all of it erased
    stroke(page, [(0.3, 0.5), (0.7, 0.5)])
    page.click("#inpaint")  # the button cannot tell: the fill says so
    assert "Paint over what should go" in page.locator("#message.error").inner_text()
    page.check("input[name=tool][value=brush]")
    stroke(page, [(0.4, 0.5), (0.6, 0.5)])  # painting answers it: the error goes
    assert page.locator("#message").inner_text() == ""
    page.click("#clear")
    assert page.locator("#inpaint").is_disabled()
    # Over --max-side: refused as it opens, before any painting; the open image stays.
    page.set_input_files("#file", str(_save(tmp_path / "wide.png", noise_image(4, 4100))))
    page.wait_for_selector("#message.error")
    assert "wide.png is 4100×4 ; this server takes at most 4096 px per side".replace(" ;", ";") \
        in page.locator("#message").inner_text()
    assert page.evaluate("document.getElementById('image').width") == 64
    # The same file chosen again is opened again (and refused again), not ignored.
    page.evaluate("document.getElementById('message').textContent = ''")
    page.set_input_files("#file", str(tmp_path / "wide.png"))
    page.wait_for_selector("#message.error")
    assert page.problems == []


def test_a_gif_opens_as_the_cli_takes_it(page, tmp_path):
    Image.fromarray(noise_image(30, 50)).convert("P").save(tmp_path / "anim.gif")
    open_image(page, tmp_path / "anim.gif")
    assert "anim.gif: 50×30" in page.locator("#message").inner_text()


def test_undo_eraser_and_a_phone_width_window(page, tmp_path):
    open_image(page, _save(tmp_path / "photo.png", noise_image(48, 64)))
    painted = "(() => { const d = document.getElementById('mask').getContext('2d')" \
              ".getImageData(0, 0, 64, 48).data; let n = 0;" \
              " for (let i = 3; i < d.length; i += 4) n += d[i] >= 128; return n; })()"
    stroke(page, [(0.1, 0.5), (0.9, 0.5)])
    full = page.evaluate(painted)
    page.check("input[value=eraser]")
    stroke(page, [(0.5, 0.1), (0.5, 0.9)])
    assert 0 < page.evaluate(painted) < full
    page.click("#undo")
    assert page.evaluate(painted) == full
    page.click("#clear")
    assert page.evaluate(painted) == 0
    page.set_viewport_size({"width": 390, "height": 844})
    page.evaluate("window.dispatchEvent(new Event('resize'))")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator("#mask").bounding_box()["width"] <= 390


def _save(path: Path, arr: np.ndarray) -> Path:
    Image.fromarray(arr).save(path)
    return path


def test_drag_and_drop_opens_an_image(page, tmp_path):
    drop_file(page, "#stage", _save(tmp_path / "dropped.webp", noise_image(30, 50)), "image/webp")
    page.wait_for_selector("#stage:not(.empty)")
    assert page.evaluate("[document.getElementById('image').width, "
                         "document.getElementById('image').height]") == [50, 30]
    assert "dropped.webp: 50×30" in page.locator("#message").inner_text()


def test_paste_opens_an_image_and_brackets_size_the_brush(page, tmp_path):
    data = list(_save(tmp_path / "shot.png", noise_image(30, 50)).read_bytes())
    page.evaluate("""bytes => {
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(bytes)], "shot.png", {type: "image/png"}));
        document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt})); }""", data)
    page.wait_for_selector("#stage:not(.empty)")
    assert "shot.png: 50×30" in page.locator("#message").inner_text()
    assert page.input_value("#size") == "28"
    page.keyboard.press("]")
    assert page.input_value("#size") == "34"
    page.keyboard.press("[")
    page.keyboard.press("[")
    assert page.input_value("#size") == "23"  # 34 / 1.2 = 28, 28 / 1.2 = 23
    page.fill("#size", "2")  # the smallest brush still grows, a pixel a press
    page.keyboard.press("]")
    assert page.input_value("#size") == "3"
    for _ in range(3):
        page.keyboard.press("[")
    assert page.input_value("#size") == "2"


def test_sigma_asked_after_the_result_is_shown(page, tmp_path):
    open_image(page, _save(tmp_path / "photo.png", noise_image(48, 64)))
    stroke(page, [(0.2, 0.3), (0.8, 0.6)])
    page.click("#inpaint")
    page.wait_for_selector("#download-result:not([hidden])")
    result = page.get_attribute("#result", "src")
    page.check("#sigma")  # the heat map asked for the same hole, now
    page.wait_for_selector("#output-label:has-text('σ')")
    assert page.get_attribute("#result", "src") != result
    assert "error" not in (page.get_attribute("#message", "class") or "")
    assert page.problems == []


def test_a_fill_for_an_image_no_longer_open_is_aborted_and_not_shown(page, tmp_path):
    """Opening another image aborts the last one's fill (the server then stops it: one
    worker would finish it first), and nothing of it is shown."""
    open_image(page, _save(tmp_path / "first.png", noise_image(48, 64)))
    stroke(page, [(0.2, 0.3), (0.8, 0.6)])
    # <body data-fill-ended="..."> once the fill's fetch has ended, and how (a DOM mark: the
    # page's CSP refuses wait_for_function's eval)
    page.evaluate("""() => { const send = window.fetch;
        window.fetch = async (url, options) => {
            const mark = (how) => setTimeout(() => { document.body.dataset.fillEnded = how; }, 0);
            try { const answer = await send(url, options);
                  if (String(url).includes('/api/inpaint')) mark("answered");
                  return answer; }
            catch (err) { if (String(url).includes('/api/inpaint')) mark(err.name); throw err; }
        }; }""")
    held = []  # the fill's request, held until the second image is open
    page.route("**/api/inpaint", lambda route: held.append(route))
    page.click("#inpaint")
    for _ in range(200):  # the route handler runs as Playwright's calls take its events
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the fill was never sent"
    open_image(page, _save(tmp_path / "second.png", noise_image(30, 50, seed=1)))
    page.wait_for_selector("body[data-fill-ended]", state="attached")
    assert page.get_attribute("body", "data-fill-ended") == "AbortError"
    with contextlib.suppress(Exception):  # aborted: Playwright may refuse to go on with it
        held[0].continue_()
    page.wait_for_timeout(300)
    assert page.locator("#output-stage.empty").count() == 1  # nothing of it shown
    assert page.locator("#download-result").is_hidden()
    assert page.locator("#message").inner_text().startswith("second.png: 50×30")
    assert page.problems == []


def test_pixels_show_as_blocks_only_where_the_image_is_enlarged(page, tmp_path):
    """A 32-px face is shown with its pixels as blocks; a photo shrunk to fit is smoothed
    (as blocks, its fine lines, text, vanished and flickered)."""
    open_image(page, _save(tmp_path / "small.png", noise_image(16, 16)))
    assert page.locator("#stage.enlarged canvas#mask").count() == 1
    open_image(page, _save(tmp_path / "large.png", noise_image(1500, 2000)))
    page.wait_for_selector("#message:has-text('large.png')")  # the stage was already shown
    assert page.locator("#stage.enlarged").count() == 0
    assert page.eval_on_selector("#image", "c => getComputedStyle(c).imageRendering") == "auto"
    # An output at x4 is shown at a quarter of the input's enlargement: smoothed where that
    # shrinks it, and its Before (the input) enlarged as the input is.
    open_image(page, _save(tmp_path / "mid.png", noise_image(200, 200)))
    page.wait_for_selector("#message:has-text('mid.png')")
    stroke(page, [(0.3, 0.3), (0.6, 0.6)])
    page.select_option("#scale", "4")
    page.click("#inpaint")
    page.wait_for_selector("#message:has-text('Done')")
    assert page.locator("#stage.enlarged").count() == 1
    assert page.locator("#output-stage.enlarged").count() == 0
    page.click("#compare")
    assert page.locator("#output-stage.enlarged").count() == 1


def test_on_a_phone_the_result_is_brought_into_view(browser, shipped_url, tmp_path):
    """One column: the result pane lies below the input, out of sight, until it is shown."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True)
    try:
        page = context.new_page()
        page.goto(shipped_url)
        page.wait_for_selector("#model:has-text('parameters')")
        open_image(page, _save(tmp_path / "tall.png", noise_image(64, 48)))
        stroke(page, [(0.3, 0.3), (0.7, 0.6)])
        assert page.locator("#output-stage").bounding_box()["y"] > 844 * 0.6
        page.click("#inpaint")
        page.wait_for_selector("#message:has-text('Done')")
        for _ in range(100):  # a smooth scroll: polled until it is done (or 5 s)
            top = page.evaluate("document.getElementById('output-stage')"
                                ".getBoundingClientRect().top")
            if 0 <= top < 844 * 0.6:
                break
            page.wait_for_timeout(50)
        assert 0 <= top < 844 * 0.6
    finally:
        context.close()


def test_the_brush_size_is_shown_on_screen_and_in_the_images_pixels(page, tmp_path):
    assert page.locator("#size-shown").inner_text() == "28 px"
    open_image(page, _save(tmp_path / "tiny.png", noise_image(16, 16)))  # enlarged
    tiny = page.locator("#size-shown").inner_text()
    assert tiny.startswith("28 px (") and float(tiny.split("(")[1].split()[0]) < 2
    page.keyboard.press("]")
    assert page.locator("#size-shown").inner_text().startswith("34 px (")
    open_image(page, _save(tmp_path / "large.png", noise_image(1500, 2000)))  # shrunk
    page.wait_for_selector("#message:has-text('large.png')")
    large = page.locator("#size-shown").inner_text()
    assert large.startswith("34 px (") and int(large.split("(")[1].split()[0]) > 34


def test_clear_and_open_mask_wait_for_an_image(page, tmp_path):
    assert page.locator("#clear").is_disabled() and page.locator("#mask-file").is_disabled()
    open_image(page, _save(tmp_path / "a.png", noise_image(16, 16)))
    assert page.locator("#clear").is_enabled() and page.locator("#mask-file").is_enabled()


def test_open_image_is_reached_with_the_keyboard(page):
    page.focus("body")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "file"


def test_k_samples_within_the_servers_cap_and_at_x1(browser, tmp_path):
    from impaint.model import ImplicitInpainter, ModelConfig
    from impaint.serve.app import create_app
    from impaint.serve.server import running

    model = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=2,
                                          latent_dim=4))
    with running(create_app(model, "stochastic")) as url:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("#samples-option:not([hidden])")
        open_image(page, _save(tmp_path / "photo.png", noise_image(48, 64)))
        stroke(page, [(0.2, 0.3), (0.8, 0.6)])
        page.fill("#samples", "20")
        page.click("#inpaint")
        page.wait_for_selector("#message.error:has-text('K samples: 1 to 8')")
        page.fill("#samples", "2")
        page.select_option("#scale", "2")
        page.click("#inpaint")
        page.wait_for_selector("#message.error:has-text('Samples are drawn at ×1')")
        page.select_option("#scale", "1")
        page.click("#inpaint")
        page.wait_for_selector("#message:has-text('Done')")
        assert page.locator("#gallery img").count() == 3  # the mean and two samples
        context.close()


PAINTED = ("(() => { const d = document.getElementById('mask').getContext('2d')"
           ".getImageData(0, 0, 64, 48).data; const a = [];"
           " for (let i = 3; i < d.length; i += 4) a.push(d[i] >= 128 ? 1 : 0); return a; })()")


def test_open_mask_reads_a_file_as_the_server_does(page, tmp_path):
    """The page's Open mask and the server's read_mask agree: a white-on-black mask with a
    transparent margin, one at alpha 200 everywhere, black or red-and-yellow strokes on a
    transparent layer."""
    from impaint.inference.image_files import read_mask

    open_image(page, _save(tmp_path / "photo.png", noise_image(48, 64)))
    box = np.zeros((48, 64), bool)
    box[10:30, 20:44] = True
    grey = np.repeat((box * 255).astype(np.uint8)[..., None], 3, -1)
    margin = np.full((48, 64), 255, np.uint8)
    margin[:, -6:] = 0
    strokes = np.zeros((48, 64, 4), np.uint8)
    strokes[box] = (0, 0, 0, 255)
    colours = strokes.copy()  # red and yellow strokes: dark and light, but no mask's grey
    colours[box] = (255, 0, 0, 255)
    colours[:, 32:][box[:, 32:]] = (255, 255, 0, 255)
    cases = {"margin": np.dstack([grey, margin]),
             "alpha200": np.dstack([grey, np.full((48, 64), 200, np.uint8)]),
             "strokes": strokes, "colours": colours}
    for name, pixels in cases.items():
        page.click("#clear")
        page.set_input_files("#mask-file", str(_save(tmp_path / f"{name}.png", pixels)))
        page.wait_for_selector(f"#message:has-text('{name}.png: the hole it marks')")
        shown = np.array(page.evaluate(PAINTED), bool).reshape(48, 64)
        server = (read_mask(tmp_path / f"{name}.png")[0] == 0).numpy()
        assert np.array_equal(shown, server) and np.array_equal(shown, box), name
    page.set_input_files("#mask-file", str(_save(tmp_path / "none.png",
                                                 np.zeros((48, 64), np.uint8))))
    page.wait_for_selector("#message.error:has-text('none.png marks no hole')")
    assert page.problems == []


def test_a_double_click_sends_one_fill(page, tmp_path):
    open_image(page, _save(tmp_path / "photo.png", noise_image(48, 64)))
    stroke(page, [(0.2, 0.3), (0.8, 0.6)])
    sent = []
    page.on("request", lambda r: "/api/inpaint" in r.url and sent.append(r.url))
    page.dblclick("#inpaint")
    page.wait_for_selector("#message:has-text('Done')")
    page.wait_for_timeout(500)
    assert len(sent) == 1 and page.problems == []


def test_a_slow_decode_does_not_replace_an_image_picked_since(page, tmp_path):
    """A TIFF the server decodes slowly (behind a fill), then a PNG picked and painted: the
    PNG stays, with its painting, when the TIFF's preview lands."""
    import cv2

    cv2.imwrite(str(tmp_path / "scan.tif"), noise_image(40, 40))
    # The preview's answer is held until the test lets it go. <body data-settled> once its
    # PNG has been read and every image decode the page started since has settled, each
    # followed by a task: whatever the page does with the preview, it has done it. (DOM
    # marks: the page's CSP refuses wait_for_function's eval.)
    page.evaluate("""() => { const send = window.fetch, decode = window.createImageBitmap;
        let decoding = 0, read = false;
        const settle = () => { if (read && decoding === 0) document.body.dataset.settled = ""; };
        window.createImageBitmap = async (...args) => { decoding += 1;
            try { return await decode(...args); }
            finally { setTimeout(() => { decoding -= 1; settle(); }, 0); } };
        window.fetch = async (url, options) => {
            if (!String(url).includes('/api/preview')) return send(url, options);
            const letGo = new Promise(done => { window.releasePreview = done; });
            document.body.dataset.previewAsked = "";
            const answer = await send(url, options);
            await letGo;
            const blob = answer.blob.bind(answer);
            answer.blob = async () => { const png = await blob();
                setTimeout(() => { read = true; settle(); }, 0); return png; };
            return answer; }; }""")
    page.set_input_files("#file", str(tmp_path / "scan.tif"))
    page.wait_for_selector("#message:has-text('Decoding scan.tif on the server')")
    open_image(page, _save(tmp_path / "photo.png", noise_image(48, 64)))
    stroke(page, [(0.2, 0.3), (0.8, 0.6)])
    page.wait_for_selector("body[data-preview-asked]", state="attached")
    page.evaluate("window.releasePreview()")
    page.wait_for_selector("body[data-settled]", state="attached")  # the preview has landed
    assert page.evaluate("document.getElementById('image').width") == 64  # and was dropped
    assert page.locator("#message").inner_text().startswith("photo.png: 64×48")
    assert sum(page.evaluate(PAINTED)) > 0 and page.problems == []


def test_a_sigma_that_fails_keeps_the_result_shown(page, tmp_path):
    """σ asked with the fill, and the server busy for it: the result that came is shown and
    can be downloaded; the message says what failed."""
    import json

    open_image(page, _save(tmp_path / "photo.png", noise_image(48, 64)))
    stroke(page, [(0.2, 0.3), (0.8, 0.6)])
    page.check("#sigma")

    def busy_for_sigma(route):
        if b'name="view"' in (route.request.post_data_buffer or b""):
            return route.fulfill(status=503, content_type="application/json",
                                 body=json.dumps({"error": "the server is busy"}))
        return route.continue_()

    page.route("**/api/inpaint", busy_for_sigma)
    page.click("#inpaint")
    page.wait_for_selector("#message.error:has-text('but the server is busy')")
    assert page.locator("#download-result").is_visible()
    assert page.locator("#output-stage.empty").count() == 0
    assert page.locator("#inpaint").is_enabled() and page.problems == []


def test_a_second_finger_paints_nothing(browser, shipped_url, tmp_path):
    """Two touches at once (a palm beside the pen): only the first one's stroke is painted,
    none joins the two."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, has_touch=True)
    page = context.new_page()
    page.goto(shipped_url)
    page.wait_for_selector("#model:has-text('parameters')")
    open_image(page, _save(tmp_path / "photo.png", noise_image(48, 64)))
    box = page.locator("#mask").bounding_box()
    at = lambda fx, fy, i: {"x": box["x"] + fx * box["width"],
                            "y": box["y"] + fy * box["height"], "id": i}
    cdp = context.new_cdp_session(page)
    touch = lambda kind, points: cdp.send("Input.dispatchTouchEvent",
                                          {"type": kind, "touchPoints": points})
    touch("touchStart", [at(0.1, 0.2, 1)])
    touch("touchStart", [at(0.1, 0.2, 1), at(0.9, 0.9, 2)])  # the palm comes down
    touch("touchMove", [at(0.3, 0.2, 1), at(0.9, 0.8, 2)])
    touch("touchMove", [at(0.5, 0.2, 1), at(0.8, 0.8, 2)])
    touch("touchEnd", [])
    strokes = page.evaluate("import('/static/state.js')"  # the page's own module: its state
                            ".then(m => m.state.strokes.map(s => s.points.length))")
    painted = np.array(page.evaluate(PAINTED), bool).reshape(48, 64)
    assert strokes == [3]  # the first finger's three points, one stroke
    assert painted[int(0.2 * 48), int(0.45 * 64)] and not painted[40:, 50:].any()
    context.close()


def mask_alpha(page) -> np.ndarray:
    """The mask canvas's alpha, (H, W) uint8: what the overlay shows painted."""
    w, h, alpha = page.evaluate("""() => { const c = document.getElementById('mask');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        return [c.width, c.height, Array.from(d.filter((_, i) => i % 4 === 3))]; }""")
    return np.array(alpha, np.uint8).reshape(h, w)


def test_what_is_shown_painted_is_the_hole_sent_on_a_small_image(page, tmp_path):
    """A 32-px face is shown enlarged, each pixel a block: a stroke's anti-aliased edge is
    no faint block there, but a whole pixel painted (and sent) or none. On a 2×2 image a
    click paints the pixel clicked, and Inpaint fills it."""
    open_image(page, _save(tmp_path / "face.png", noise_image(32, 32)))
    page.fill("#size", "10")
    stroke(page, [(0.1, 0.13), (0.9, 0.47)])
    stroke(page, [(0.2, 0.75), (0.8, 0.75)])
    page.check("input[value=eraser]")
    stroke(page, [(0.5, 0.05), (0.55, 0.95)])
    alpha = mask_alpha(page)
    assert np.isin(alpha, [0, 255]).all(), f"{((alpha > 0) & (alpha < 255)).sum()} faint px"
    page.check("input[value=brush]")
    page.click("#inpaint")
    page.wait_for_selector("#message:has-text('Done')")
    sent = download(page, "#download-mask", tmp_path / "mask.png")[..., 0] == 255
    assert sent.any() and np.array_equal(sent, alpha == 255)

    open_image(page, _save(tmp_path / "tiny.png", noise_image(2, 2)))
    page.fill("#size", "2")
    box = page.locator("#mask").bounding_box()
    page.mouse.click(box["x"] + 0.75 * box["width"], box["y"] + 0.25 * box["height"])
    assert mask_alpha(page).tolist() == [[0, 255], [0, 0]]
    page.click("#inpaint")
    page.wait_for_selector("#message:has-text('Done')")
    assert page.problems == []


def test_a_webp_turned_by_its_exif_is_painted_upright_as_the_server_reads_it(page, tmp_path):
    """Chromium shows a WebP unrotated whatever its EXIF orientation; the server reads it
    upright. The page paints on the server's reading (/api/preview), so the mask fits: a
    stored 60×40 turned a quarter (orientation 6) is painted and filled 40×60. A plain WebP
    stays on the browser's own decode."""
    from PIL import ImageOps

    previews = []
    page.on("request", lambda r: "/api/preview" in r.url and previews.append(r.url))
    open_image(page, _save(tmp_path / "plain.webp", noise_image(30, 50)))
    assert previews == []
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    Image.fromarray(noise_image(40, 60)).save(tmp_path / "turned.webp", lossless=True,
                                               exif=exif.tobytes())
    upright = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "turned.webp")))
    page.set_input_files("#file", str(tmp_path / "turned.webp"))
    page.wait_for_selector("#message:has-text('turned.webp:')")
    assert "turned.webp: 40×60" in page.locator("#message").inner_text() and len(previews) == 1
    shown = page.evaluate("Array.from(document.getElementById('image').getContext('2d')"
                          ".getImageData(0, 0, 40, 60).data)")
    assert np.array_equal(np.array(shown, np.uint8).reshape(60, 40, 4)[..., :3], upright)
    stroke(page, [(0.2, 0.3), (0.8, 0.6)])
    page.click("#inpaint")
    page.wait_for_selector("#message:has-text('Done')")
    result = download(page, "#download-result", tmp_path / "result.png")
    hole = download(page, "#download-mask", tmp_path / "mask.png")[..., 0] == 255
    assert result.shape == upright.shape and 0.02 < hole.mean() < 0.6
    assert np.array_equal(result[~hole], upright[~hole])
    assert page.problems == []


def drop_file(page, selector: str, path: Path, mime: str = "image/png") -> None:
    """Drop the file at `path` on the element `selector`, as a file dragged from a folder."""
    drop = page.evaluate_handle("""([bytes, name, type]) => { const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(bytes)], name, {type})); return dt; }""",
                                [list(path.read_bytes()), path.name, mime])
    page.dispatch_event(selector, "drop", {"dataTransfer": drop})


def test_a_mask_dropped_on_open_mask_is_the_mask_not_the_image(page, tmp_path):
    """Dropped on Open mask (its hidden input, or the label around it), a file is opened as
    the mask, beside the strokes already painted; the image stays."""
    original = noise_image(48, 64)
    open_image(page, _save(tmp_path / "photo.png", original))
    stroke(page, [(0.2, 0.8), (0.8, 0.8)])
    painted = mask_alpha(page) == 255
    hole = np.zeros((48, 64), bool)
    hole[5:15, 10:30] = True
    mask = _save(tmp_path / "photo-mask.png", (hole * 255).astype(np.uint8))
    page.dispatch_event("#open-mask", "dragover")  # where it would go is outlined
    assert page.locator("#open-mask.dragging").count() == 1
    assert page.locator("#stage.dragging").count() == 0
    for target in ("#mask-file", "#open-mask"):
        drop_file(page, target, mask)
        page.wait_for_selector("#message:has-text('photo-mask.png')")
        assert "the hole it marks is painted" in page.locator("#message").inner_text(), target
        shown = page.evaluate("Array.from(document.getElementById('image').getContext('2d')"
                              ".getImageData(0, 0, 64, 48).data)")
        assert np.array_equal(np.array(shown, np.uint8).reshape(48, 64, 4)[..., :3], original)
        assert np.array_equal(mask_alpha(page) == 255, painted | hole)
        page.click("#undo")  # the mask's layer, one step: the stroke stays
        assert np.array_equal(mask_alpha(page) == 255, painted)
        page.evaluate("document.getElementById('message').textContent = ''")
    assert page.problems == []


def test_clear_is_undone_and_undo_is_redone(page, tmp_path):
    """Clear is a step Undo takes back; Redo (its button, Ctrl+Shift+Z, Ctrl+Y, whatever the
    letter's case) brings back what Undo took, until a new stroke is painted."""
    open_image(page, _save(tmp_path / "photo.png", noise_image(48, 64)))
    painted = lambda: mask_alpha(page) == 255
    stroke(page, [(0.1, 0.3), (0.9, 0.3)])
    first = painted()
    stroke(page, [(0.1, 0.8), (0.9, 0.8)])
    both = painted()
    assert first.any() and (both & ~first).any()
    page.click("#clear")
    assert not painted().any()
    page.keyboard.press("Control+Z")  # key "Z", as with Caps Lock
    assert np.array_equal(painted(), both)
    page.keyboard.press("Control+Shift+Z")  # the Clear again
    assert not painted().any()
    page.click("#undo")
    page.click("#undo")
    assert np.array_equal(painted(), first)
    page.keyboard.press("Control+y")
    assert np.array_equal(painted(), both)
    page.click("#redo")  # the Clear, still ahead
    assert not painted().any() and page.locator("#redo").is_disabled()
    page.click("#undo")
    page.click("#undo")
    stroke(page, [(0.5, 0.1), (0.5, 0.9)])  # a new step: the undone stroke is gone for good
    now = painted()
    assert page.locator("#redo").is_disabled()
    page.keyboard.press("Control+Y")
    second = (both & ~first)[:, :25]  # the second stroke, left of the new one
    assert second.any() and not now[:, :25][second].any()
    assert np.array_equal(painted(), now)
    page.set_viewport_size({"width": 390, "height": 844})  # Redo fits a phone's toolbar
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    redo = page.locator("#redo").bounding_box()
    assert redo["x"] >= 0 and redo["x"] + redo["width"] <= 390 and page.problems == []


def test_undo_reads_the_canvas_back_once_a_stroke_not_once_a_segment(page, tmp_path):
    """A replay settles each stroke's edges once (binarize): once a segment, Undo on a
    6000x4000 photo read the canvas back thousands of times and froze the page for seconds."""
    open_image(page, _save(tmp_path / "photo.png", noise_image(48, 64)))
    stroke(page, [(0.1, 0.3), (0.5, 0.3), (0.9, 0.3)])  # 17 segments each
    stroke(page, [(0.1, 0.8), (0.5, 0.8), (0.9, 0.8)])
    page.evaluate("""(() => {
        const read = CanvasRenderingContext2D.prototype.getImageData;
        window.reads = 0;
        CanvasRenderingContext2D.prototype.getImageData = function (...args) {
            window.reads += 1;
            return read.apply(this, args);
        };
    })()""")
    page.click("#undo")  # the first stroke replayed
    assert page.evaluate("window.reads") == 1
    page.click("#redo")
    assert page.evaluate("window.reads") == 3


def test_download_mask_is_the_painting_as_it_is_now(page, tmp_path):
    """Download mask, under the painting, writes that painting as it is when clicked
    (white = hole, the image's size): before any Inpaint, and after one that was painted over
    since."""
    open_image(page, _save(tmp_path / "photo.png", noise_image(48, 64)))
    assert page.locator("#download-mask").is_visible()
    page.click("#download-mask")  # nothing painted: nothing to write
    assert "Paint over what should go" in page.locator("#message.error").inner_text()
    stroke(page, [(0.1, 0.2), (0.9, 0.2)])
    top = mask_alpha(page) == 255
    assert np.array_equal(download(page, "#download-mask", tmp_path / "a.png")[..., 0] == 255, top)
    page.click("#inpaint")
    page.wait_for_selector("#message:has-text('Done')")
    page.click("#clear")
    stroke(page, [(0.1, 0.8), (0.9, 0.8)])
    bottom = mask_alpha(page) == 255
    mask = download(page, "#download-mask", tmp_path / "b.png")
    assert mask.shape == (48, 64, 3) and set(np.unique(mask)) == {0, 255}
    assert np.array_equal(mask[..., 0] == 255, bottom) and not (bottom & top).any()
    assert page.problems == []
