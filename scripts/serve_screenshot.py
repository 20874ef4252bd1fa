"""docs/serve.png: the page in use, taken by the same headless Chromium as the browser test.

    python scripts/serve_screenshot.py [--out docs/serve.png]

Serves `impaint serve`'s default model (`general`) on a free port of 127.0.0.1, opens a photo
that scikit-image ships (the astronaut, 256 px), paints a thick stroke across it with the
mouse, presses Inpaint, and captures the window.
"""

import argparse
import tempfile
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright
from skimage import data

from impaint.checkpoint import load_model
from impaint.serve.app import create_app
from impaint.serve.server import running

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/serve.png")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    photo_pixels = Image.fromarray(data.astronaut()).resize((256, 256), Image.LANCZOS)
    with tempfile.TemporaryDirectory() as tmp, \
            running(create_app(load_model("general"), "general")) as url, \
            sync_playwright() as p:
        photo = Path(tmp) / "astronaut.png"
        photo_pixels.save(photo)
        browser = p.chromium.launch(executable_path=args.chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 720})
        page.goto(url)
        page.wait_for_selector("#model:has-text('parameters')")
        page.set_input_files("#file", str(photo))
        page.wait_for_selector("#stage:not(.empty)")
        box = page.locator("#mask").bounding_box()

        def at(fx, fy):  # a point of the mask canvas, as fractions of its size
            return box["x"] + fx * box["width"], box["y"] + fy * box["height"]

        page.mouse.move(*at(0.30, 0.42))
        page.mouse.down()
        page.mouse.move(*at(0.62, 0.40), steps=12)
        page.mouse.move(*at(0.66, 0.55), steps=6)
        page.mouse.up()
        page.click("#inpaint")
        page.wait_for_selector("#download-result:not([hidden])")
        page.screenshot(path=args.out)
        browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
