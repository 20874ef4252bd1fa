// Inpainting and the output pane: Inpaint sends the file and the painted mask; the result is
// shown with its download, the σ heat map, the K samples and the before/after toggle. Each
// answer is checked against state's counters: one for an earlier image or result is dropped.

import { $, state, say, setUrl, fit, stem } from "./state.js";
import { request } from "./api.js";
import { maskPng, showHistory } from "./mask.js";

export { clearResult, show, inpaint };

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
  $("result").alt = state.before ? "the input image" : sigma
    ? "σ heat map: bright where the fill is a guess" : "the inpainted image";
  if (url) $("result").src = url;
  $("download-result").href = state.chosen || "";
  fit();  // the input (before) and an output at x2 / x4 are enlarged by different factors
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
  const controller = new AbortController();  // aborted by the next image opened (files.js)
  state.controller = controller;
  const signal = controller.signal;
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
    const result = await request(mask.blob, fields, signal);
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
        const sigma = await request(mask.blob, { ...state.fields, view: "sigma" }, signal);
        if (shown !== state.shown) return;
        setUrl("sigma", sigma);
        show();
      }
      if (k > 1) await drawSamples(mask.blob, k, shown, signal);
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
      showHistory();
      if (refocus && document.activeElement === document.body) $("inpaint").focus();
    }
  }
}

// The result in the output pane, with its downloads and the before/after toggle.
function showResult() {
  $("output-stage").classList.remove("empty");
  $("download-result").hidden = false;
  $("compare").disabled = false;
  show();  // and fit()
  // On a phone the pane is below the input, out of sight: brought up (beside the input, on
  // a wider screen, nothing moves).
  if ($("output-stage").getBoundingClientRect().top > window.innerHeight * 0.6) {
    $("output-stage").scrollIntoView({ block: "start", behavior: "smooth" });
  }
}

// K completions from the stochastic latent (draws 1…K); a click shows and downloads one.
async function drawSamples(mask, k, shown, signal) {
  const mean = state.chosen;
  const thumbs = [mean];
  try {
    for (let i = 1; i <= k; i++) {
      if (shown !== state.shown) return;  // the next image's file would meet this mask
      say(`Sample ${i} of ${k}…`);
      const sample = await request(mask, { sample: i }, signal);
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
