"""Drives the page `gpt2-edge serve` serves in headless Chromium, through the DevTools protocol (aiohttp only).

Run by tools/serve/browser-check.sh, which starts the server; by hand:

    python3 tools/serve/browser_check.py --url http://127.0.0.1:8080/ [--api-key KEY] [--screenshot out.png]

No chromedriver and no Selenium: Chromium is started with --remote-debugging-port=0, the port is read from the
DevToolsActivePort file in its temporary profile, and one WebSocket speaks to the page. Nothing is downloaded.
Typing is Input.insertText into the focused field and clicks are mouse events at the element's centre, so the page
sees what a person would do. Streaming is judged inside the page: a 5 ms timer (a task of its own, so it only runs
between network reads) samples #output's length while Generate is disabled; two different non-empty lengths there
mean the text arrived in pieces, not at the end.

Exit status 0 when every check passed; the checks and a description of the page go to standard output.
"""

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import aiohttp

PROMPT = "And God said"


class Failure(Exception):
    pass


class Page:
    """One DevTools WebSocket session on a page target: commands by id, a few events kept."""

    def __init__(self, socket):
        self.socket = socket
        self.next_id = 0
        self.pending = {}
        self.exceptions = []
        self.load_events = 0
        self.reader = asyncio.get_running_loop().create_task(self.read())

    async def read(self):
        async for message in self.socket:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            if "id" in data and data["id"] in self.pending:
                self.pending.pop(data["id"]).set_result(data)
            elif data.get("method") == "Runtime.exceptionThrown":
                details = data["params"]["exceptionDetails"]
                self.exceptions.append(details.get("exception", {}).get("description") or details.get("text"))
            elif data.get("method") == "Page.loadEventFired":
                self.load_events += 1
        for future in self.pending.values():
            future.set_exception(Failure("the DevTools connection closed"))

    async def send(self, method, **params):
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        await self.socket.send_str(json.dumps({"id": self.next_id, "method": method, "params": params}))
        reply = await asyncio.wait_for(future, 30)
        if "error" in reply:
            raise Failure("%s: %s" % (method, reply["error"]))
        return reply.get("result", {})

    async def js(self, expression):
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise Failure("JavaScript failed: %s\n  in: %s" % (result["exceptionDetails"].get("exception", {})
                                                               .get("description"), expression))
        return result["result"].get("value")

    async def wait_for(self, expression, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            value = await self.js(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise Failure("timed out after %d s waiting for %s" % (timeout, what))
            await asyncio.sleep(0.05)

    async def load(self, url):
        seen = self.load_events
        await self.send("Page.navigate", url=url)
        deadline = time.monotonic() + 30
        while self.load_events == seen:
            if time.monotonic() > deadline:
                raise Failure("%s did not load within 30 s" % url)
            await asyncio.sleep(0.05)

    async def click(self, selector):
        box = await self.js("(() => { const r = document.querySelector(%s).getBoundingClientRect();"
                            " return [r.x + r.width / 2, r.y + r.height / 2]; })()" % json.dumps(selector))
        for kind in ("mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    async def type_into(self, selector, text):
        """Replaces a field's contents the way typing does: focus, select all, insert."""
        await self.js("(() => { const e = document.querySelector(%s); e.focus(); e.select(); })()"
                      % json.dumps(selector))
        if text:
            await self.send("Input.insertText", text=text)
        else:
            await self.send("Input.dispatchKeyEvent", type="keyDown", key="Delete", code="Delete",
                            windowsVirtualKeyCode=46)
            await self.send("Input.dispatchKeyEvent", type="keyUp", key="Delete", code="Delete",
                            windowsVirtualKeyCode=46)

    async def text(self, selector):
        return await self.js("document.querySelector(%s).textContent" % json.dumps(selector))


# Starts a 5 ms sampler of #output while #generate is disabled; window.__run holds what it saw.
SAMPLER = """(() => {
  const run = window.__run = { lengths: [], samples: 0, started: false, done: false, startedAt: 0, doneAt: 0 };
  const timer = setInterval(() => {
    const busy = document.getElementById("generate").disabled;
    if (busy && !run.started) { run.started = true; run.startedAt = performance.now(); }
    if (run.started && busy) {
      run.samples += 1;
      const n = document.getElementById("output").textContent.length;
      if (n > 0 && run.lengths[run.lengths.length - 1] !== n) run.lengths.push(n);
    }
    if (run.started && !busy) { run.done = true; run.doneAt = performance.now(); clearInterval(timer); }
  }, 5);
  return true;
})()"""


async def generate(page, timeout=180):
    """Clicks Generate and waits for the page to finish; what the sampler saw."""
    await page.js(SAMPLER)
    await page.click("#generate")
    await page.wait_for("window.__run.started || document.getElementById('error').textContent", 10,
                        "Generate to start")
    await page.wait_for("window.__run.done || (!window.__run.started && document.getElementById('error').textContent)",
                        timeout, "the generation to end")
    return await page.js("window.__run")


async def check_page(page, url, api_key, screenshot, results):
    def check(ok, line):
        results.append((bool(ok), line))
        print(("PASS " if ok else "FAIL ") + line, flush=True)
        return ok

    await page.load(url)
    await page.js("localStorage.clear()")
    await page.load(url)
    ids = await page.js("['prompt','generate','stop','output','stats','error']"
                        ".filter(id => !document.getElementById(id))")
    if not check(not ids, "the page has #prompt #generate #stop #output #stats #error" +
                 (" (missing: %s)" % ", ".join(ids) if ids else "")):
        raise Failure("not the expected page")
    await page.wait_for("!document.getElementById('model').textContent.includes('…')", 10, "the model line")

    await page.type_into("#prompt", PROMPT)
    await page.type_into("#max_tokens", "200")
    await page.type_into("#seed", "42")

    if api_key:
        await page.type_into("#api_key", "")
        await generate(page, 30)
        error = await page.text("#error")
        check("401" in error, "without the API key Generate shows the server's refusal in #error: %r" % error)
        await page.type_into("#api_key", api_key)

    run = await generate(page)
    output, stats, error = await page.text("#output"), await page.text("#stats"), await page.text("#error")
    check(not error, "no error shown" + (": %r" % error if error else ""))
    check(output.strip(), "#output ends non-empty (%d characters)" % len(output))
    check(len(run["lengths"]) >= 2, "#output grew while streaming: %d distinct non-empty lengths in %d samples "
          "over %.0f ms (%s)" % (len(run["lengths"]), run["samples"], run["doneAt"] - run["startedAt"],
                                  ", ".join(map(str, run["lengths"][:12])) + (" …" if len(run["lengths"]) > 12 else "")))
    check(re.search(r"\d+(\.\d+)? tok/s", stats), "#stats shows a tokens/s figure: %r" % stats)
    check(re.search(r"first token \d+ ms", stats), "#stats shows the time to first token")
    description = await describe(page, run)
    shot = await page.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    with open(screenshot, "wb") as file:
        file.write(base64.b64decode(shot["data"]))
    print("screenshot: %s" % screenshot)

    if api_key:
        await page.load(url)
        kept = await page.js("document.getElementById('api_key').value")
        check(kept == api_key, "the API key field is restored from localStorage after a reload")
        model = await page.wait_for("(t => t.includes('…') ? '' : t)(document.getElementById('model').textContent)",
                                    10, "the model line")
        check(model.startswith("model: ") and "?" not in model, "the model id from /v1/models: %r" % model)

    # Stop: a long generation (as long as the context allows), stopped once text shows; the page must end it and
    # the text must stop growing.
    context = await page.js("fetch('v1/models', { headers: headers() }).then(r => r.json())"
                            ".then(m => (m.data[0].meta || {}).n_ctx || 1024).catch(() => 1024)")
    long_run = max(16, min(900, context - 32))
    await page.type_into("#prompt", PROMPT)
    await page.type_into("#max_tokens", str(long_run))
    await page.js(SAMPLER)
    await page.click("#generate")
    await page.wait_for("document.getElementById('output').textContent.length > 0 || "
                        "document.getElementById('error').textContent", 60, "the first text of the long run")
    await page.click("#stop")
    await page.wait_for("window.__run.done", 10, "Stop to end the generation")
    stopped_at = len(await page.text("#output"))
    await asyncio.sleep(0.7)
    later, stats = len(await page.text("#output")), await page.text("#stats")
    if "finish:" in stats:
        print("NOTE the %d-token run finished before Stop was clicked (%r); Stop not exercised" % (long_run, stats))
    else:
        check("stopped" in stats and later == stopped_at,
              "Stop ends the stream: %r, %d characters, none after" % (stats, later))
        check(not await page.js("document.getElementById('generate').disabled"), "Generate is enabled again")
        # The server sees the aborted fetch as a disconnect and frees the slot (GET /slots: llama.cpp's shape).
        busy = None
        for _ in range(60):
            slots = await page.js("fetch('slots', { headers: headers() }).then(r => r.json()).catch(() => null)")
            if not isinstance(slots, list) or not all(isinstance(s, dict) and "state" in s for s in slots):
                print("NOTE GET /slots has no per-slot state (%r); the freed slot not checked" % (slots,))
                break
            busy = [s for s in slots if s["state"] != "idle"]
            if not busy:
                break
            await asyncio.sleep(0.05)
        check(not busy, "after Stop every slot is idle again within 3 s" + (": %r" % busy if busy else ""))
    check(not page.exceptions, "no uncaught JavaScript exception" +
          (": %s" % page.exceptions if page.exceptions else ""))
    return description


async def describe(page, run):
    facts = await page.js("""(() => {
      const v = id => document.getElementById(id);
      const settings = ['max_tokens','temperature','top_p','top_k','seed','stop_text','api_key']
        .map(id => id.replace('_text','') + '=' + (id === 'api_key' ? (v(id).value ? 'set' : 'empty') : (v(id).value || '(empty)')));
      const r = v('output').getBoundingClientRect();
      return { title: document.title, heading: document.querySelector('h1').textContent,
               model: v('model').textContent, prompt: v('prompt').value, settings: settings.join(', '),
               output: v('output').textContent, stats: v('stats').textContent, error: v('error').textContent,
               generate: v('generate').disabled ? 'disabled' : 'enabled', stop: v('stop').disabled ? 'disabled' : 'enabled',
               width: window.innerWidth, height: window.innerHeight, outBox: [Math.round(r.width), Math.round(r.height)],
               dark: matchMedia('(prefers-color-scheme: dark)').matches };
    })()""")
    text = " ".join(facts["output"].split())
    excerpt = text[:220] + ("…" if len(text) > 220 else "")
    paragraph = (
        "The page (title %r, %dx%d viewport, %s colour scheme) shows the heading %r beside %r; below it the prompt "
        "box holds %r, then a row of settings (%s), the Generate (%s) and Stop (%s) buttons with the stats line %r, "
        "%s and the output panel, where the prompt is echoed in grey followed by %d generated characters: %r."
        % (facts["title"], facts["width"], facts["height"], "dark" if facts["dark"] else "light", facts["heading"],
           facts["model"], facts["prompt"], facts["settings"], facts["generate"], facts["stop"], facts["stats"],
           "an error line %r," % facts["error"] if facts["error"] else "no error line,",
           len(facts["output"]), excerpt))
    return paragraph


async def run(args):
    chromium = args.chromium
    if not shutil.which(chromium):
        raise Failure("no Chromium at %s (apt install chromium)" % chromium)
    profile = tempfile.mkdtemp(prefix="gpt2-edge-chromium.")
    command = [chromium, "--headless=new", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
               "--user-data-dir=" + profile, "--window-size=1100,1000", "--no-first-run", "--no-default-browser-check",
               "--disable-gpu", "--disable-dev-shm-usage", "--disable-extensions", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--disable-default-apps", "--mute-audio",
               "--force-prefers-reduced-motion", "about:blank"]
    if os.geteuid() == 0:
        command.insert(1, "--no-sandbox")
    log = open(os.path.join(profile, "chromium.log"), "w")
    # A session of its own, so that closing it ends Chromium's zygote and renderers too and nothing else.
    browser = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        deadline = time.monotonic() + 30
        while not (os.path.exists(port_file) and open(port_file).read().count("\n") >= 1):
            if browser.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise Failure("Chromium did not start (status %s); its output:\n%s"
                              % (browser.poll(), open(log.name).read()[-3000:]))
            await asyncio.sleep(0.1)
        port = int(open(port_file).read().split()[0])
        async with aiohttp.ClientSession() as session:
            async with session.get("http://127.0.0.1:%d/json/list" % port) as response:
                targets = [t for t in await response.json() if t.get("type") == "page"]
            if not targets:
                raise Failure("Chromium has no page target")
            async with session.ws_connect(targets[0]["webSocketDebuggerUrl"], max_msg_size=64 << 20) as socket:
                page = Page(socket)
                await page.send("Page.enable")
                await page.send("Runtime.enable")
                results = []
                try:
                    description = await check_page(page, args.url, args.api_key, args.screenshot, results)
                    print("\n" + description)
                finally:
                    try:
                        await page.send("Browser.close")
                    except Exception:
                        pass
        return all(ok for ok, _ in results)
    finally:
        try:
            browser.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(browser.pid, signal.SIGKILL)
            browser.wait()
        try:
            os.killpg(browser.pid, signal.SIGKILL)  # any helper left in Chromium's own session
        except ProcessLookupError:
            pass
        log.close()
        shutil.rmtree(profile, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="the page, e.g. http://127.0.0.1:8080/")
    parser.add_argument("--api-key", help="the key the server was started with: also checks the page's key field")
    parser.add_argument("--screenshot", default=os.environ.get("SCREENSHOT", "/tmp/gpt2-edge-page.png"))
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    args = parser.parse_args()
    try:
        ok = asyncio.run(run(args))
    except Failure as failure:
        print("FAIL %s" % failure)
        ok = False
    print("browser check: %s" % ("all passed" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
