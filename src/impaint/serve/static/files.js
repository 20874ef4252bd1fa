// Opening an image: its type and size checked, then decoded by the browser, or by the server
// (/api/preview) where the browser cannot read it, or would not read it upright; the last pick
// wins, and the painting and the result of the image before it go.

import { $, state, imageCanvas, maskCanvas, say, setUrl, fit } from "./state.js";
import { post } from "./api.js";
import { redraw, showHistory, showSize } from "./mask.js";
import { clearResult } from "./result.js";

export { openFile };

// The browser shows PNG, JPEG, WebP and BMP itself; TIFF and HEIC (and anything else it
// cannot decode) the server turns into a PNG to paint on (/api/preview), while the original
// file, all its bits, is what gets inpainted. So does a WebP with EXIF: Chromium shows it
// unrotated, whatever its orientation, and the server (as the CLI) reads it upright.
const TYPES = ["image/png", "image/jpeg", "image/webp", "image/bmp", "image/gif", "image/tiff",
               "image/heic", "image/heif"];
const SUFFIXES = /\.(png|jpe?g|webp|bmp|gif|tiff?|heic|heif)$/i;

async function openFile(file) {
  if (!file) return;
  // The last pick wins: a TIFF the server decodes (behind a running fill) may finish after
  // a PNG picked since, and must not replace it and its painting.
  const pick = ++state.picks;
  const current = () => pick === state.picks;
  if (!TYPES.includes(file.type) && !SUFFIXES.test(file.name)) {
    say(`${file.name} is not a PNG, JPEG, WebP, BMP, GIF, TIFF or HEIC image.`, true);
    return;
  }
  if (state.info && file.size > state.info.limits.max_upload_bytes) {
    say(`${file.name} is larger than this server takes (${state.info.limits.max_upload_mb} MB).`,
        true);
    return;
  }
  let bitmap = null, shown = file;
  if (!(await webpWithExif(file))) {  // upright by its EXIF orientation, as the server reads it
    bitmap = await createImageBitmap(file).catch(() => null);
  }
  if (!bitmap) {
    try {
      if (!current()) return;
      say(`Decoding ${file.name} on the server…`);
      const body = new FormData();
      body.append("image", file, file.name);
      shown = await post("/api/preview", body);
      if (!current()) return;
      bitmap = await createImageBitmap(shown);
    } catch (err) {
      if (current()) say(err.message, true);
      return;
    }
  }
  if (!current()) return bitmap.close();
  const side = state.info ? state.info.limits.max_side : Infinity;
  if (Math.max(bitmap.width, bitmap.height) > side) {  // refused now, not after painting
    say(`${file.name} is ${bitmap.width}×${bitmap.height}; this server takes at most ${side} px ` +
        "per side (impaint serve --max-side).", true);
    bitmap.close();
    return;
  }
  state.file = file;
  state.opened += 1;
  if (state.controller) state.controller.abort();  // its fill: stopped on the server too
  state.controller = null;
  for (const canvas of [imageCanvas, maskCanvas]) {
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
  }
  imageCanvas.getContext("2d").drawImage(bitmap, 0, 0);
  bitmap.close();
  state.strokes = [];
  state.undone = [];
  redraw();
  setUrl("input", shown);
  clearResult();
  $("stage").classList.remove("empty");
  $("download-mask").hidden = false;
  $("clear").disabled = $("mask-file").disabled = false;  // of use once an image is open
  state.inpaints += 1;  // a fill still running for the last image no longer holds the button
  state.busy = false;
  showHistory();  // Inpaint: once something is painted
  fit();
  showSize();
  say(`${file.name}: ${imageCanvas.width}×${imageCanvas.height}. Paint over what should go.`);
}

// An extended WebP whose VP8X header flags EXIF (bit 3 of byte 20), as Pillow, through
// libwebp, takes it: its orientation may turn it. A plain WebP is shown by the browser.
async function webpWithExif(file) {
  try {
    const head = new Uint8Array(await file.slice(0, 21).arrayBuffer());
    const tag = (at) => String.fromCharCode(...head.subarray(at, at + 4));
    return head.length === 21 && tag(0) === "RIFF" && tag(8) === "WEBP" && tag(12) === "VP8X" &&
      (head[20] & 0x08) !== 0;
  } catch (err) {
    return false;  // unreadable: the decode below says so
  }
}
