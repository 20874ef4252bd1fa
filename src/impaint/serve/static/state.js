// The page's shared state and the small helpers every part uses: the element lookup, the
// hole's colour, the two canvases, the status line, object URLs, the panes' size, a file's stem.
// It imports nothing: every other module builds on this one.

export { $, HOLE_RGB, HOLE_COLOUR, state, imageCanvas, maskCanvas, maskCtx, say, setUrl, fit,
         stem };

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
  controller: null,  // aborts the requests of a fill when another image opens: the server
                     // then stops it (one worker would otherwise finish it first)
};

const imageCanvas = $("image");
const maskCanvas = $("mask");
// Read back once a stroke (binarize, mask.js): kept in memory, not on the GPU.
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
  // Pixels shown as blocks where enlarged (a 32-px face); a photo shrunk to fit is smoothed,
  // or its fine lines (text) vanish and flicker.
  $("stage").classList.toggle("enlarged", k > 1);
  // The output is the input's size times its scale (x2, x4): shown at k / scale of it.
  const scale = state.before ? 1 : state.fields.scale || 1;
  $("output-stage").classList.toggle("enlarged", k / scale > 1);
}

function stem() { return state.file.name.replace(/\.[^.]*$/, "") || "image"; }
