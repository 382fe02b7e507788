/// The page `GET /` serves: a prompt, sampling settings, and the completion streamed from `POST /v1/completions`.
///
/// One self-contained document (no framework, no CDN, no web fonts), because a board is often offline. It reads the
/// SSE stream itself (`fetch` + `ReadableStream`, events split on blank lines, `:` comments skipped, `[DONE]` ends
/// it), shows tokens per second, time to first token and the token count (the final `usage` chunk, asked for with
/// `stream_options.include_usage`, corrects the count of chunks), and Stop aborts the request, which the server sees
/// as a disconnect. The API key, when one is needed, is kept in the browser's localStorage and sent as
/// `Authorization: Bearer`. URLs are relative, so the page also works behind a proxy under a path prefix.
/// Stable element ids (`#prompt`, `#generate`, `#stop`, `#output`, `#stats`, `#error`) are what
/// tools/serve/browser-check.sh drives.
enum WebPage {
    static let html: String = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gpt2-edge</title>
<style>
  :root { color-scheme: light dark; --fg: #1d1f23; --bg: #fafaf8; --muted: #6b6f76; --line: #d9d9d4;
          --accent: #2f6fdb; --err: #b3261e; --panel: #ffffff; }
  @media (prefers-color-scheme: dark) {
    :root { --fg: #e6e6e3; --bg: #17181b; --muted: #9a9ea6; --line: #34363b; --accent: #7aa7ff;
            --err: #ff8a80; --panel: #1f2024; }
  }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
         color: var(--fg); background: var(--bg); }
  main { max-width: 920px; margin: 0 auto; padding: 20px 16px 40px; }
  header { display: flex; align-items: baseline; gap: 12px; margin-bottom: 14px; }
  h1 { font-size: 20px; margin: 0; }
  #model { color: var(--muted); font-size: 13px; }
  textarea, input { font: inherit; color: var(--fg); background: var(--panel); border: 1px solid var(--line);
                    border-radius: 6px; padding: 6px 8px; }
  textarea { width: 100%; min-height: 96px; resize: vertical; }
  .settings { display: grid; grid-template-columns: repeat(auto-fill, minmax(130px, 1fr)); gap: 8px 12px;
              margin: 12px 0; }
  .settings label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
  .settings input { width: 100%; margin-top: 2px; }
  .settings .wide { grid-column: span 2; }
  .actions { display: flex; gap: 8px; align-items: center; }
  button { font: inherit; padding: 6px 18px; border-radius: 6px; border: 1px solid var(--accent); cursor: pointer;
           background: var(--accent); color: #fff; }
  button#stop { background: transparent; color: var(--accent); }
  button:disabled { opacity: 0.45; cursor: default; }
  #stats { color: var(--muted); font-size: 13px; font-variant-numeric: tabular-nums; margin-left: auto; }
  #error { color: var(--err); margin: 10px 0 0; white-space: pre-wrap; }
  #error:empty { display: none; }
  .out { margin-top: 14px; min-height: 160px; padding: 12px 14px; background: var(--panel);
         border: 1px solid var(--line); border-radius: 6px; white-space: pre-wrap; overflow-wrap: anywhere;
         font: 14px/1.55 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
  #echo { color: var(--muted); }
</style>
</head>
<body>
<main>
  <header><h1>gpt2-edge</h1><span id="model">model: …</span></header>
  <textarea id="prompt" placeholder="Prompt (Ctrl+Enter to generate)">And God said</textarea>
  <div class="settings">
    <label>max tokens <input id="max_tokens" type="number" min="1" value="128"></label>
    <label>temperature <input id="temperature" type="number" min="0" max="2" step="0.05" value="0.8"></label>
    <label>top_p <input id="top_p" type="number" min="0" max="1" step="0.05" value="0.95"></label>
    <label>top_k <input id="top_k" type="number" min="0" step="1" value="40"></label>
    <label>seed <input id="seed" type="number" step="1" placeholder="random"></label>
    <label>stop <input id="stop_text" type="text" placeholder="none"></label>
    <label class="wide">API key <input id="api_key" type="password" placeholder="only if the server asks"
      autocomplete="off"></label>
  </div>
  <div class="actions">
    <button id="generate">Generate</button>
    <button id="stop" disabled>Stop</button>
    <span id="stats"></span>
  </div>
  <div id="error" role="alert"></div>
  <div class="out"><span id="echo"></span><span id="output"></span></div>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const KEY_STORE = "gpt2-edge.api-key";
let modelId = "gpt2-edge";
let controller = null;

$("api_key").value = localStorage.getItem(KEY_STORE) || "";
$("api_key").addEventListener("change", () => {
  localStorage.setItem(KEY_STORE, $("api_key").value.trim());
  loadModel();
});

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("api_key").value.trim();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

// The server's error body is {"error": {"message", ...}}; anything else is shown as it came.
async function errorText(res) {
  const raw = await res.text();
  try { return JSON.parse(raw).error.message || raw; } catch (_) { return raw || res.statusText; }
}

async function loadModel() {
  try {
    const res = await fetch("v1/models", { headers: headers() });
    if (!res.ok) { $("model").textContent = "model: ? (" + res.status + " " + await errorText(res) + ")"; return; }
    const list = await res.json();
    if (list.data && list.data.length) modelId = list.data[0].id;
    $("model").textContent = "model: " + modelId;
  } catch (e) { $("model").textContent = "model: ? (" + e.message + ")"; }
}

function numberField(id) {
  const v = $(id).value.trim();
  return v === "" ? undefined : Number(v);
}

function requestBody() {
  const body = { model: modelId, prompt: $("prompt").value, stream: true,
                 stream_options: { include_usage: true },
                 max_tokens: numberField("max_tokens"), temperature: numberField("temperature"),
                 top_p: numberField("top_p"), top_k: numberField("top_k"), seed: numberField("seed") };
  const stop = $("stop_text").value;
  if (stop) body.stop = stop.replace(/\\n/g, "\n");
  return body;
}

// Yields the data of each server-sent event: events end at a blank line, ":" lines are comments.
async function* sseData(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer = (buffer + decoder.decode(value, { stream: true })).replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split("\n").filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).replace(/^ /, "")).join("\n");
      if (data) yield data;
    }
  }
}

// Decode speed counts the chunks after the first (each carries one token or more), so prefill is left out.
function showStats(s) {
  const parts = [s.tokens + (s.tokens === 1 ? " token" : " tokens")];
  if (s.first !== null) {
    const decodeSeconds = (s.last - s.first) / 1000;
    if (s.chunks > 1 && decodeSeconds > 0) parts.push(((s.chunks - 1) / decodeSeconds).toFixed(1) + " tok/s");
    parts.push("first token " + Math.round(s.first - s.start) + " ms");
  }
  if (s.finish) parts.push(s.finish);
  $("stats").textContent = parts.join(" · ");
}

function setRunning(running) {
  $("generate").disabled = running;
  $("stop").disabled = !running;
}

async function generate() {
  if (controller) return;
  $("error").textContent = "";
  $("output").textContent = "";
  $("echo").textContent = $("prompt").value;
  const s = { start: performance.now(), first: null, last: null, chunks: 0, tokens: 0, finish: "" };
  showStats(s);
  controller = new AbortController();
  setRunning(true);
  try {
    const res = await fetch("v1/completions", { method: "POST", headers: headers(),
                                                body: JSON.stringify(requestBody()), signal: controller.signal });
    if (!res.ok) {
      const retry = res.headers.get("Retry-After");
      throw new Error(res.status + ": " + await errorText(res) + (retry ? " (retry after " + retry + " s)" : ""));
    }
    for await (const data of sseData(res.body)) {
      if (data === "[DONE]") break;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message || JSON.stringify(chunk.error));
      const now = performance.now();
      for (const choice of chunk.choices || []) {
        if (s.first === null) s.first = now;
        s.last = now;
        s.chunks += 1;
        s.tokens = s.chunks;
        $("output").textContent += choice.text;
        if (choice.finish_reason) s.finish = "finish: " + choice.finish_reason;
      }
      if (chunk.usage) s.tokens = chunk.usage.completion_tokens;
      showStats(s);
    }
  } catch (e) {
    if (e.name === "AbortError") s.finish = "stopped";
    else $("error").textContent = e.message;
  } finally {
    showStats(s);
    controller = null;
    setRunning(false);
  }
}

$("generate").addEventListener("click", generate);
$("stop").addEventListener("click", () => { if (controller) controller.abort(); });
$("prompt").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); generate(); }
});
loadModel();
</script>
</body>
</html>
"""#
}
