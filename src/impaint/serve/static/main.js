// impaint's page: open an image, paint the hole, send both to POST /api/inpaint.
// The original file's bytes are sent, never a re-encoded canvas, so the known pixels of the
// result are exactly the file's. The mask is sent as a black-and-white PNG: white = hole.

// The page's entry, loaded by index.html as a module (deferred, strict): the controls wired to
// the modules that do the work, then the model's description asked for. The modules, each
// importing only those above it:
//   state.js   the shared state and small helpers
//   api.js     GET /api/info; a form POSTed, the PNG or the error answered
//   mask.js    the mask painting: strokes, Undo and Redo, mask files, the mask PNG
//   result.js  Inpaint and the output pane: σ, samples, before/after
//   files.js   opening an image

import { $, state, maskCanvas, say, setUrl, fit, stem } from "./state.js";
import { loadInfo, request } from "./api.js";
import { toImage, brushWidth, drawSegment, settle, redraw, openMask, addStep, moveStep,
         maskPng, showSize } from "./mask.js";
import { show, inpaint } from "./result.js";
import { openFile } from "./files.js";

// ---- painting -----------------------------------------------------------------------------

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

// ---- Undo, Redo, Clear (the steps: mask.js) and the keys ----------------------------------

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
    showSize();
  }
});

$("size").addEventListener("input", showSize);

// ---- inpainting and the output pane -------------------------------------------------------

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
    say("Computing σ… (the fill again, with its σ)");
    try {
      const sigma = await request(state.maskBlob, { ...state.fields, view: "sigma" },
                                  state.controller ? state.controller.signal : undefined);
      if (shown === state.shown) {
        setUrl("sigma", sigma);
        say("");
      }
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
window.addEventListener("resize", () => {
  fit();
  showSize();  // the same brush covers other image pixels at another fit
});

loadInfo();
