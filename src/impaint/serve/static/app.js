// impaint's page: open an image, paint the hole, send both to POST /api/inpaint.
// The original file's bytes are sent, never a re-encoded canvas, so the known pixels of the
// result are exactly the file's. The mask is sent as a black-and-white PNG: white = hole.
"use strict";

const $ = (id) => document.getElementById(id);
const HOLE_RGB = [255, 64, 96];
const HOLE_COLOUR = `rgb(${HOLE_RGB.join(", ")})`;

const state = {
  info: null,      // GET /api/info
  file: null,      // the opened File: its bytes are what the server inpaints
  strokes: [],     // the painting's steps, for undo: {erase, width, points: [[x, y], ...]}
                   // in image pixels, {layer} (an opened mask) or {clear: true}
  undone: [],      // steps taken back by Undo, the last one first to come back by Redo
  current: null,   // the stroke being painted
  urls: {},        // object URLs: input, result, sigma, mask; revoked when replaced
  samples: [],     // object URLs of the K samples
  chosen: null,    // URL of the shown result (the mean, or a chosen sample)
  before: false,   // the before/after toggle shows the input
  fields: {},      // the shown result's scale, flips, rounds (σ asked later matches it)
  maskBlob: null,  // the shown result's mask (σ asked later is for the same hole)
  opened: 0,       // counts opened images: an answer for an earlier one is dropped
  picks: 0,        // counts images picked: a slower decode of an earlier pick is dropped
  inpaints: 0,     // counts Inpaint presses (and opened images): a stale one leaves the button
  busy: false,     // an Inpaint of this image is running: a second press is not sent
  shown: 0,        // counts results: a σ asked for an earlier one is dropped
};

const imageCanvas = $("image");
const maskCanvas = $("mask");
// Read back after every segment (see binarize): kept in memory, not on the GPU.
const maskCtx = maskCanvas.getContext("2d", { willReadFrequently: true });

function say(text, isError = false) {
  $("message").textContent = text;
  $("message").classList.toggle("error", isError);
}

function setUrl(key, blob) {
  if (state.urls[key]) URL.revokeObjectURL(state.urls[key]);
  state.urls[key] = blob ? URL.createObjectURL(blob) : null;
  return state.urls[key];
}

// ---- the model's description --------------------------------------------------------------

async function loadInfo() {
  try {
    const response = await fetch("/api/info");
    state.info = await response.json();
  } catch (err) {
    say("The server does not answer: is `impaint serve` still running?", true);
    return;
  }
  const info = state.info;
  const kind = [info.probabilistic && "σ per pixel", info.stochastic && "stochastic latent"]
    .filter(Boolean).join(", ");
  $("model").textContent = `${info.model}: ${info.parameters.toLocaleString("en")} parameters` +
    (info.image_size ? `, trained on ${info.image_size}-px views` : "") +
    (kind ? ` (${kind})` : "") + "; any image size";
  $("sigma-option").hidden = !info.probabilistic;
  $("samples-option").hidden = !info.stochastic;
  $("samples").max = info.limits.max_samples;
}

// ---- opening an image ---------------------------------------------------------------------

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
  state.inpaints += 1;  // a fill still running for the last image no longer holds the button
  state.busy = false;
  $("inpaint").disabled = false;
  fit();
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

// Show the image as large as the pane allows (small images enlarged, pixels visible).
function fit() {
  if (!state.file) return;
  const box = $("stage").clientWidth - 4;
  const tall = Math.max(200, window.innerHeight * 0.7);
  const k = Math.min(box / imageCanvas.width, tall / imageCanvas.height);
  const w = Math.max(1, Math.floor(imageCanvas.width * k));
  const h = Math.max(1, Math.floor(imageCanvas.height * k));
  for (const el of [imageCanvas, $("result")]) {  // the result at the input's size, any scale
    el.style.width = `${w}px`;
    el.style.height = `${h}px`;
  }
}

// ---- painting -----------------------------------------------------------------------------

function toImage(event) {
  const rect = maskCanvas.getBoundingClientRect();
  return [(event.clientX - rect.left) * (maskCanvas.width / rect.width),
          (event.clientY - rect.top) * (maskCanvas.height / rect.height)];
}

function brushWidth() {  // the slider is in screen pixels; strokes are stored in image pixels
  const rect = maskCanvas.getBoundingClientRect();
  return Math.max(1, Number($("size").value) * (maskCanvas.width / rect.width));
}

function drawSegment(stroke, from, to) {
  maskCtx.globalCompositeOperation = stroke.erase ? "destination-out" : "source-over";
  maskCtx.strokeStyle = maskCtx.fillStyle = HOLE_COLOUR;
  maskCtx.lineWidth = stroke.width;
  maskCtx.lineCap = maskCtx.lineJoin = "round";
  maskCtx.beginPath();
  if (from === to) {  // a click: a dot
    maskCtx.arc(to[0], to[1], stroke.width / 2, 0, 2 * Math.PI);
    maskCtx.fill();
  } else {
    maskCtx.moveTo(from[0], from[1]);
    maskCtx.lineTo(to[0], to[1]);
    maskCtx.stroke();
  }
  // The pixel under the pointer is painted whatever the brush: on a 2×2 image a click
  // paints the pixel clicked, not a quarter of each of four (none of them a hole).
  maskCtx.fillRect(Math.floor(to[0]), Math.floor(to[1]), 1, 1);
}

// A finished stroke's edges made whole pixels (binarize), over the box it touched: once a
// stroke, as it ends and as redraw replays it, so that Undo and Redo give back exactly what
// was shown (once a segment, a replay read the canvas back thousands of times: a 6000x4000
// photo's Undo took seconds).
function settle(stroke) {
  const r = stroke.width / 2 + 2;
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of stroke.points) {  // a loop: a long stroke's points overflow a spread
    x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
  }
  binarize(x0 - r, y0 - r, x1 + r, y1 + r);
}

// Anti-aliased edges made whole pixels, hole from half coverage (alpha >= 128) as maskPng
// sends it: what is shown painted is exactly the hole sent, on a 32-px face enlarged to
// 17-px blocks too. Only the box given is read (x0, y0, x1, y1: image px).
function binarize(x0, y0, x1, y1) {
  const left = Math.max(0, Math.floor(x0)), top = Math.max(0, Math.floor(y0));
  const w = Math.min(maskCanvas.width, Math.ceil(x1)) - left;
  const h = Math.min(maskCanvas.height, Math.ceil(y1)) - top;
  if (w <= 0 || h <= 0) return;
  const data = maskCtx.getImageData(left, top, w, h);
  const px = data.data;
  const [r, g, b] = HOLE_RGB;
  for (let i = 0; i < px.length; i += 4) {
    px[i] = r;
    px[i + 1] = g;
    px[i + 2] = b;
    px[i + 3] = px[i + 3] >= 128 ? 255 : 0;
  }
  maskCtx.putImageData(data, left, top);
}

function redraw() {
  maskCtx.clearRect(0, 0, maskCanvas.width, maskCanvas.height);
  showHistory();
  const cleared = state.strokes.findLastIndex((step) => step.clear);  // painted since then
  for (const stroke of state.strokes.slice(cleared + 1)) {
    if (stroke.layer) {  // an opened mask file, painted in one go
      maskCtx.globalCompositeOperation = "source-over";
      maskCtx.drawImage(stroke.layer, 0, 0);
      continue;
    }
    stroke.points.forEach((p, i) => drawSegment(stroke, i ? stroke.points[i - 1] : p, p));
    if (stroke !== state.current) settle(stroke);  // the one being painted settles as it ends
  }
}

// A mask file as painted strokes (one, for Undo), read as the server and the CLI read masks
// (image_files.read_mask): white = hole; on a file with transparent pixels (alpha < 128),
// opaque = hole, whatever the paint's colour, unless its opaque pixels are themselves a
// black-and-white mask (both, 95 % of them near-black or near-white grey: a mask with a
// transparent margin): white = hole there. For a mask made elsewhere, and for painting
// without a pointer.
async function openMask(file) {
  if (!file) return;
  if (!state.file) return say("Open the image first, then its mask.", true);
  const opened = state.opened;  // another image opened while this decodes: not its mask
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { colorSpaceConversion: "none",
                                             premultiplyAlpha: "none" });
  } catch (err) {
    return say(`${file.name} is not a mask this browser can read (save it as a PNG).`, true);
  }
  if (opened !== state.opened) return bitmap.close();
  const { width, height } = maskCanvas;
  if (bitmap.width !== width || bitmap.height !== height) {
    say(`${file.name} is ${bitmap.width}×${bitmap.height}; the image is ${width}×${height}.`,
        true);
    bitmap.close();
    return;
  }
  const layer = document.createElement("canvas");
  layer.width = width;
  layer.height = height;
  const ctx = layer.getContext("2d");
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const data = ctx.getImageData(0, 0, width, height);
  const px = data.data;
  const grey = (i) => 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];  // Pillow's "L"
  let transparent = false, dark = false, light = false, painted = 0, extreme = 0;
  for (let i = 0; i < px.length; i += 4) {
    if (px[i + 3] < 128) {
      transparent = true;
      continue;
    }
    const v = grey(i);
    const spread = Math.max(px[i], px[i + 1], px[i + 2]) - Math.min(px[i], px[i + 1], px[i + 2]);
    painted += 1;
    extreme += spread < 32 && (v < 31.5 || v >= 223.5);
    if (v >= 127.5) light = true;
    else dark = true;
  }
  const blackAndWhite = dark && light && extreme >= 0.95 * painted;
  const byAlpha = transparent && !blackAndWhite;
  const [r, g, b] = HOLE_RGB;
  let holes = 0;
  for (let i = 0; i < px.length; i += 4) {
    const painted = px[i + 3] >= 128;
    const hole = byAlpha ? painted : painted && grey(i) >= 127.5;
    holes += hole;
    px[i] = r;
    px[i + 1] = g;
    px[i + 2] = b;
    px[i + 3] = hole ? 255 : 0;
  }
  if (!holes) return say(`${file.name} marks no hole (white = hole, black = known).`, true);
  ctx.putImageData(data, 0, 0);
  addStep({ layer });
  redraw();
  say(`${file.name}: the hole it marks is painted. Inpaint, or paint more.`);
}

maskCanvas.addEventListener("pointerdown", (event) => {
  // One stroke at a time: a second finger, or a palm beside the pen, paints nothing
  if (!state.file || event.button !== 0 || state.current) return;
  maskCanvas.setPointerCapture(event.pointerId);
  const p = toImage(event);
  const erase = document.querySelector("input[name=tool]:checked").value === "eraser";
  state.current = { erase, width: brushWidth(), points: [p], pointer: event.pointerId };
  if ($("message").classList.contains("error")) say("");  // painting answers "paint first"
  addStep(state.current);
  drawSegment(state.current, p, p);
});
maskCanvas.addEventListener("pointermove", (event) => {
  if (!state.current || event.pointerId !== state.current.pointer) return;
  const p = toImage(event);
  const points = state.current.points;
  drawSegment(state.current, points[points.length - 1], p);
  points.push(p);
});
for (const type of ["pointerup", "pointercancel"]) {
  maskCanvas.addEventListener(type, (event) => {
    if (!state.current || event.pointerId !== state.current.pointer) return;
    settle(state.current);
    state.current = null;
  });
}

// Every stroke, opened mask and Clear is a step: Undo takes the last one back (Clear's too),
// Redo brings back what Undo took, until a new step is painted.
function addStep(step) {
  state.strokes.push(step);
  state.undone = [];
  showHistory();
}
function showHistory() {
  $("undo").disabled = !state.strokes.length;
  $("redo").disabled = !state.undone.length;
}
function moveStep(from, to) {
  if (from.length) to.push(from.pop());
  state.current = null;  // mid-stroke, the stroke ends: the pointer paints no more of it
  redraw();
}
$("undo").addEventListener("click", () => moveStep(state.strokes, state.undone));
$("redo").addEventListener("click", () => moveStep(state.undone, state.strokes));
$("clear").addEventListener("click", () => {
  const last = state.strokes[state.strokes.length - 1];
  if (last && !last.clear) addStep({ clear: true });  // nothing painted since: nothing to do
  state.current = null;
  redraw();
});
document.addEventListener("keydown", (event) => {
  const typing = event.target.tagName === "INPUT" && ["number", "text"].includes(event.target.type);
  const key = String(event.key).toLowerCase();  // "Z" with Shift or Caps Lock
  if ((event.ctrlKey || event.metaKey) && (key === "z" || key === "y") && !typing) {
    event.preventDefault();
    $(key === "y" || event.shiftKey ? "redo" : "undo").click();
  } else if ((event.key === "[" || event.key === "]") && !typing) {
    // Brush size, as in image editors: 20 % smaller or larger a press (at least 1 px, so
    // that small sizes move too), within the slider.
    const size = $("size");
    const now = Number(size.value);
    const next = event.key === "]" ? Math.max(now + 1, Math.round(now * 1.2))
      : Math.min(now - 1, Math.round(now / 1.2));
    size.value = String(Math.min(Number(size.max), Math.max(Number(size.min), next)));
  }
});

// The painted area as a mask file: white = hole, black = known (the CLI's convention).
// The canvas holds alpha 0 or 255 only (binarize): every pixel shown painted is a hole.
async function maskPng() {
  const { width, height } = maskCanvas;
  const painted = maskCtx.getImageData(0, 0, width, height).data;
  const out = new ImageData(width, height);
  let holes = 0;
  for (let i = 0; i < painted.length; i += 4) {
    const hole = painted[i + 3] >= 128;
    holes += hole;
    const v = hole ? 255 : 0;
    out.data[i] = out.data[i + 1] = out.data[i + 2] = v;
    out.data[i + 3] = 255;
  }
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  canvas.getContext("2d").putImageData(out, 0, 0);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  return { blob, holes, total: width * height };
}

// ---- inpainting ---------------------------------------------------------------------------

function stem() { return state.file.name.replace(/\.[^.]*$/, "") || "image"; }

async function request(mask, fields) {
  const body = new FormData();
  body.append("image", state.file, state.file.name);
  body.append("mask", mask, "mask.png");
  for (const [key, value] of Object.entries(fields)) body.append(key, String(value));
  return post("/api/inpaint", body);
}

// POST a form -> the PNG answered, or an Error with the server's one-line message.
async function post(path, body) {
  let response;
  try {
    response = await fetch(path, { method: "POST", body });
  } catch (err) {
    throw new Error("the server did not answer (is `impaint serve` still running?)");
  }
  if (!response.ok) {
    let message = `the server answered ${response.status}`;
    try { message = (await response.json()).error || message; } catch (err) { /* not JSON */ }
    throw new Error(message);
  }
  return response.blob();
}

function clearResult() {
  state.shown += 1;  // a σ or a sample still on its way is for the result cleared here
  for (const url of state.samples) URL.revokeObjectURL(url);
  state.samples = [];
  setUrl("result", null);
  setUrl("sigma", null);
  state.chosen = state.maskBlob = null;
  state.before = false;
  $("gallery").replaceChildren();
  $("output-stage").classList.add("empty");
  $("download-result").hidden = true;
  $("compare").disabled = true;
  show();
}

// What the output pane shows: the input (before), σ, or the chosen result.
function show() {
  const sigma = $("sigma").checked && state.urls.sigma;
  const url = state.before ? state.urls.input : sigma || state.chosen;
  $("compare").setAttribute("aria-pressed", String(state.before));
  $("output-label").textContent = state.before ? "Before"
    : sigma ? "σ: bright where the fill is a guess" : "Result";
  if (url) $("result").src = url;
  $("download-result").href = state.chosen || "";
}

async function inpaint() {
  if (!state.file || state.busy) return;  // a double click sends one fill, not two
  state.busy = true;
  const ticket = ++state.inpaints;
  $("inpaint").disabled = true;
  // Another image opened meanwhile: this answer is not for it. Counted before the first
  // await, or the mask of this image would go out with the next one's file.
  const opened = state.opened;
  const refocus = document.activeElement === $("inpaint");  // disabled, it loses focus
  let ticker = null;
  try {
    const mask = await maskPng();
    if (opened !== state.opened) return;
    if (mask.holes === 0) return say("Paint over what should go first.", true);
    if (mask.holes === mask.total) {
      return say("Leave some of the image unpainted: the fill is drawn from it.", true);
    }
    const scale = Number($("scale").value);
    // Best: 8 flips, 8 rounds at any size; else the server picks by the image's size (auto)
    const fields = $("best").checked ? { scale, flips: 8, rounds: 8 } : { scale };
    const k = state.info && state.info.stochastic ? Number($("samples").value) : 1;
    const most = state.info ? state.info.limits.max_samples : 8;
    if (!(Number.isInteger(k) && k >= 1 && k <= most)) {
      return say(`K samples: 1 to ${most}.`, true);
    }
    if (k > 1 && scale !== 1) {
      return say("Samples are drawn at ×1: set Output to ×1 for K samples, or K to 1.", true);
    }
    const started = performance.now();
    const seconds = () => ((performance.now() - started) / 1000).toFixed(1);
    say("Inpainting…");
    // A large photo (or Best on one) takes seconds to a minute: the wait counts up, so it
    // never looks stuck.
    ticker = setInterval(() => {
      if (ticket === state.inpaints && $("message").textContent.startsWith("Inpainting")) {
        say(`Inpainting… ${Math.round((performance.now() - started) / 1000)} s`);
      }
    }, 1000);
    const result = await request(mask.blob, fields);
    if (opened !== state.opened) return;
    clearResult();
    const shown = state.shown;
    state.fields = fields;  // what the shown result was made with (for σ later)
    state.chosen = setUrl("result", result);
    state.maskBlob = mask.blob;
    $("download-result").download = `${stem()}-inpainted.png`;
    showResult();  // now: a σ or a sample that fails below takes nothing from it
    try {
      if ($("sigma").checked) {
        const sigma = await request(mask.blob, { ...state.fields, view: "sigma" });
        if (shown !== state.shown) return;
        setUrl("sigma", sigma);
        show();
      }
      if (k > 1) await drawSamples(mask.blob, k, shown);
    } catch (err) {
      if (shown === state.shown) say(`Done in ${seconds()} s, but ${err.message}`, true);
      return;
    }
    if (shown === state.shown) say(`Done in ${seconds()} s.`);
  } catch (err) {
    if (opened === state.opened) say(err.message, true);
  } finally {
    clearInterval(ticker);
    if (ticket === state.inpaints) {  // else an image opened since holds the button
      state.busy = false;
      $("inpaint").disabled = false;
      if (refocus && document.activeElement === document.body) $("inpaint").focus();
    }
  }
}

// The result in the output pane, with its downloads and the before/after toggle.
function showResult() {
  $("output-stage").classList.remove("empty");
  $("download-result").hidden = false;
  $("compare").disabled = false;
  show();
  fit();
}

// K completions from the stochastic latent (draws 1…K); a click shows and downloads one.
async function drawSamples(mask, k, shown) {
  const mean = state.chosen;
  const thumbs = [mean];
  try {
    for (let i = 1; i <= k; i++) {
      if (shown !== state.shown) return;  // the next image's file would meet this mask
      say(`Sample ${i} of ${k}…`);
      const sample = await request(mask, { sample: i });
      if (shown !== state.shown) return;  // its result was cleared: its URLs with it
      const url = URL.createObjectURL(sample);
      state.samples.push(url);
      thumbs.push(url);
    }
  } finally {  // the samples drawn, even if a later one failed
    if (shown === state.shown && thumbs.length > 1) showSamples(thumbs);
  }
}

function showSamples(thumbs) {
  $("gallery").replaceChildren(...thumbs.map((url, i) => {
    const img = document.createElement("img");
    img.src = url;
    img.alt = img.title = i ? `sample ${i}` : "the mean completion";
    img.classList.toggle("chosen", i === 0);
    const thumb = document.createElement("button");  // a button: reached and chosen by keys
    thumb.type = "button";
    thumb.append(img);
    thumb.addEventListener("click", () => {
      state.chosen = url;
      state.before = false;
      if (i > 0) $("sigma").checked = false;  // σ is the mean's: a sample shows itself
      for (const el of document.querySelectorAll(".gallery img")) {
        el.classList.toggle("chosen", el === img);
      }
      show();
    });
    return thumb;
  }));
}

$("inpaint").addEventListener("click", inpaint);
// The painting as it is now, not as the last Inpaint sent it (the button is under it), in
// the file the CLI takes; before any Inpaint too.
$("download-mask").addEventListener("click", async () => {
  const opened = state.opened;
  const mask = await maskPng();
  if (opened !== state.opened) return;  // another image opened meanwhile: not its mask
  if (mask.holes === 0) return say("Paint over what should go first.", true);
  const link = document.createElement("a");
  link.href = setUrl("mask", mask.blob);
  link.download = `${stem()}-mask.png`;
  link.click();
});
$("compare").addEventListener("click", () => { state.before = !state.before; show(); });
$("sigma").addEventListener("change", async () => {
  if ($("sigma").checked && state.chosen && !state.urls.sigma && state.maskBlob) {
    const shown = state.shown;  // another result since: this σ is not its
    try {
      const sigma = await request(state.maskBlob, { ...state.fields, view: "sigma" });
      if (shown === state.shown) setUrl("sigma", sigma);
    } catch (err) {
      if (shown === state.shown) say(err.message, true);
    }
  }
  show();
});
$("tools").addEventListener("submit", (event) => event.preventDefault());

// ---- file picker and drag-and-drop --------------------------------------------------------

$("file").addEventListener("change", (event) => {
  openFile(event.target.files[0]);
  event.target.value = "";  // choosing the same file again opens it again
});
$("mask-file").addEventListener("change", (event) => {
  openMask(event.target.files[0]);
  event.target.value = "";
});
// A file dropped on Open mask is this image's mask, as if picked there; anywhere else it is
// the image to open (which would throw away the painting).
const onOpenMask = (event) => event.target instanceof Node && $("open-mask").contains(event.target);
function showDrop(event) {  // where a drop would go: the stage, or Open mask; null: neither
  $("stage").classList.toggle("dragging", Boolean(event) && !onOpenMask(event));
  $("open-mask").classList.toggle("dragging", Boolean(event) && onOpenMask(event));
}
document.addEventListener("dragover", (event) => {
  event.preventDefault();
  showDrop(event);
});
document.addEventListener("dragleave", () => showDrop(null));
document.addEventListener("drop", (event) => {
  event.preventDefault();
  showDrop(null);
  (onOpenMask(event) ? openMask : openFile)(event.dataTransfer.files[0]);
});
// A screenshot or a copied image: Ctrl+V opens it, as a file would be.
document.addEventListener("paste", (event) => {
  const item = [...event.clipboardData.items].find((i) => i.type.startsWith("image/"));
  if (item) {
    event.preventDefault();
    openFile(item.getAsFile());
  }
});
window.addEventListener("resize", fit);

loadInfo();
