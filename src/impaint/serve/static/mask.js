// The mask painting: brush and eraser strokes on the mask canvas, in image pixels, their edges
// made whole pixels (binarize); the steps Undo and Redo move; a mask file opened as a step;
// the painting written as the mask PNG sent (white = hole). main.js wires the pointer and the
// buttons to these.

import { $, HOLE_RGB, HOLE_COLOUR, state, maskCanvas, maskCtx, say } from "./state.js";

export { toImage, brushWidth, drawSegment, settle, redraw, openMask, addStep, moveStep, maskPng,
         showHistory, showSize };

function toImage(event) {
  const rect = maskCanvas.getBoundingClientRect();
  return [(event.clientX - rect.left) * (maskCanvas.width / rect.width),
          (event.clientY - rect.top) * (maskCanvas.height / rect.height)];
}

// The brush's size beside its slider: on screen, and in the image's own pixels (a 28-px
// brush is under one pixel of an enlarged 16-px image, some 130 of a shrunk 3000-px one).
function showSize() {
  const onScreen = `${$("size").value} px`;
  const width = brushWidth();
  $("size-shown").textContent = state.file
    ? `${onScreen} (${width < 10 ? width.toFixed(1) : Math.round(width)} in the image)`
    : onScreen;
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

// Every stroke, opened mask and Clear is a step: Undo takes the last one back (Clear's too),
// Redo brings back what Undo took, until a new step is painted.
function addStep(step) {
  state.strokes.push(step);
  state.undone = [];
  showHistory();
}
// The buttons the steps enable: Undo, Redo, and Inpaint once something is painted since the
// last Clear (an eraser that took it all back still counts: the fill then says so).
function showHistory() {
  $("undo").disabled = !state.strokes.length;
  $("redo").disabled = !state.undone.length;
  const cleared = state.strokes.map((s) => Boolean(s.clear)).lastIndexOf(true);
  const painted = state.strokes.slice(cleared + 1).some((s) => s.layer || !s.erase);
  $("inpaint").disabled = state.busy || !state.file || !painted;
}
function moveStep(from, to) {
  if (from.length) to.push(from.pop());
  state.current = null;  // mid-stroke, the stroke ends: the pointer paints no more of it
  redraw();
}

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
