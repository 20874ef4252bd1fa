// The server's API: the model's description (GET /api/info, shown in the header), and forms
// POSTed to /api/inpaint and /api/preview, answered with a PNG or a one-line error.

import { $, state, say } from "./state.js";

export { loadInfo, request, post };

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

async function request(mask, fields, signal = undefined) {
  const body = new FormData();
  body.append("image", state.file, state.file.name);
  body.append("mask", mask, "mask.png");
  for (const [key, value] of Object.entries(fields)) body.append(key, String(value));
  return post("/api/inpaint", body, signal);
}

// POST a form -> the PNG answered, or an Error with the server's one-line message (`signal`
// aborted: an Error its caller drops, the image it was for no longer open).
async function post(path, body, signal = undefined) {
  let response;
  try {
    response = await fetch(path, { method: "POST", body, signal });
  } catch (err) {
    if (err.name === "AbortError") throw new Error("stopped: another image was opened");
    throw new Error("the server did not answer (is `impaint serve` still running?)");
  }
  if (!response.ok) {
    let message = `the server answered ${response.status}`;
    try { message = (await response.json()).error || message; } catch (err) { /* not JSON */ }
    throw new Error(message);
  }
  return response.blob();
}
