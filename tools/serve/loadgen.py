#!/usr/bin/env python3
"""Streaming load generator for OpenAI-style /v1/completions servers on loopback.

    tools/serve/loadgen.py --url http://127.0.0.1:8080 [--concurrency "1 2 4 8 16"]
        [--requests N] [--duration S] [--prompt-tokens 64] [--max-tokens 64] [--temperature 0] [--seed 1]
        [--long-prompt-at T [--long-prompt-tokens 1000] [--long-max-tokens 8]] [--json OUT] [--label NAME]

Python standard library only: asyncio streams and a minimal HTTP/1.1 client (one connection per request,
`Connection: close`, chunked or length-delimited bodies) with an SSE parser. It talks to loopback addresses only.

Each concurrency level runs in turn: that many clients, each sending one streamed request after another
(`stream: true`, `stream_options.include_usage`, `ignore_eos: true`), until the level has sent --requests requests
or --duration seconds have passed since it started, whichever comes first (a request in flight at the deadline
runs to its end: each is bounded by --max-tokens and --timeout). Prompts are lists of token ids (the `prompt`
list-of-ints form that gpt2-edge serve and llama-server both accept), random in --token-range and different for
every request, so no server gets to reuse a cached prefix.

Per level it measures:
  - gen tok/s: completion tokens (from each stream's usage chunk, else its count of content chunks) over the
    level's wall time, from its first request sent to its last one finished;
  - TTFT p50/p99: request sent (before connecting) to the first chunk with non-empty text;
  - ITL p50/p99: gaps between consecutive content chunks of one stream, pooled over all streams;
  - with --long-prompt-at T: one extra request with a --long-prompt-tokens prompt is sent T seconds into the
    level; its prefill window runs from its send to its first token, and every gap of the other streams that
    overlaps that window is its stall: the table gives the max and p99 of those gaps (and the window's length);
  - errors by kind: http_<status>, connection_refused, connection_reset, connection_closed (the stream ended
    before `data: [DONE]`), timeout, stream_error (an SSE event carrying "error"), protocol.
One markdown table row per level goes to standard output; --json writes everything, every request included.

Before the first level one warm-up request (not measured) checks the server: when it answers 400 to the request
with `ignore_eos` the tool says so and sends no `ignore_eos` from then on, relying on max_tokens (a stream that
stops early at an end-of-text token is counted as `short`).

Exit status: 0 when every measured request succeeded, 1 when some failed, 2 when the server could not be used.
"""
import argparse
import asyncio
import ipaddress
import json
import random
import socket
import sys
import time
import urllib.parse

MAX_HEADER_BYTES = 64 * 1024
MAX_ERROR_BODY = 64 * 1024


def die(message):
    print(f"loadgen: {message}", file=sys.stderr)
    raise SystemExit(2)


class RequestFailed(Exception):
    def __init__(self, kind, detail="", status=None, retry_after=None):
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail, self.status, self.retry_after = kind, detail, status, retry_after


def loopback_target(url):
    """(host, port, base path) of an http:// URL on a loopback address, or SystemExit."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http":
        die(f"--url must be http:// (got {url!r})")
    host = parts.hostname or ""
    port = parts.port or 80
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        die(f"cannot resolve {host!r}: {error}")
    addresses = {info[4][0] for info in infos}
    if not addresses or not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        die(f"refusing {host!r} ({', '.join(sorted(addresses))}): loopback addresses only")
    return host, port, parts.path.rstrip("/")


def percentile(values, q):
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class Client:
    def __init__(self, host, port, base, api_key=None):
        self.host, self.port, self.base, self.api_key = host, port, base, api_key

    async def _open(self, method, path, body=None, extra_headers=None):
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port, limit=MAX_HEADER_BYTES)
        except ConnectionRefusedError as error:
            raise RequestFailed("connection_refused", str(error))
        except OSError as error:
            raise RequestFailed("connection_error", str(error))
        host_header = f"{self.host}:{self.port}" if ":" not in self.host else f"[{self.host}]:{self.port}"
        lines = [f"{method} {self.base}{path} HTTP/1.1", f"Host: {host_header}", "Connection: close",
                 "User-Agent: gpt2-edge-loadgen", "Accept: text/event-stream, application/json"]
        if self.api_key:
            lines.append(f"Authorization: Bearer {self.api_key}")
        for name, value in (extra_headers or {}).items():
            lines.append(f"{name}: {value}")
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            writer.write(head + (body or b""))
            await writer.drain()
            status_line = await reader.readline()
            if not status_line:
                raise RequestFailed("connection_closed", "no response")
            fields = status_line.decode("latin-1").split(None, 2)
            if len(fields) < 2 or not fields[0].startswith("HTTP/1.") or not fields[1].isdigit():
                raise RequestFailed("protocol", f"bad status line {status_line[:80]!r}")
            status = int(fields[1])
            headers = {}
            while True:
                line = await reader.readline()
                if not line.endswith(b"\n"):
                    raise RequestFailed("connection_closed", "inside the response headers")
                line = line.rstrip(b"\r\n")
                if not line:
                    break
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
        except (ConnectionResetError, BrokenPipeError) as error:
            writer.close()
            raise RequestFailed("connection_reset", str(error))
        except asyncio.LimitOverrunError:
            writer.close()
            raise RequestFailed("protocol", "response header line too long")
        except RequestFailed:
            writer.close()
            raise
        return status, headers, reader, writer

    @staticmethod
    async def _body(reader, headers):
        """Yields the response body's bytes as they arrive (chunked, Content-Length or until close)."""
        try:
            if "chunked" in headers.get("transfer-encoding", "").lower():
                while True:
                    size_line = await reader.readline()
                    if not size_line.endswith(b"\n"):
                        raise RequestFailed("connection_closed", "inside the chunked body")
                    try:
                        size = int(size_line.split(b";")[0].strip(), 16)
                    except ValueError:
                        raise RequestFailed("protocol", f"bad chunk size {size_line[:40]!r}")
                    if size == 0:
                        while (await reader.readline()).strip():
                            pass
                        return
                    data = await reader.readexactly(size)
                    await reader.readexactly(2)
                    yield data
            elif "content-length" in headers:
                remaining = int(headers["content-length"])
                while remaining > 0:
                    data = await reader.read(min(remaining, 65536))
                    if not data:
                        raise RequestFailed("connection_closed", "before Content-Length bytes")
                    remaining -= len(data)
                    yield data
            else:
                while True:
                    data = await reader.read(65536)
                    if not data:
                        return
                    yield data
        except asyncio.IncompleteReadError:
            raise RequestFailed("connection_closed", "inside the body")
        except (ConnectionResetError, BrokenPipeError) as error:
            raise RequestFailed("connection_reset", str(error))

    async def get(self, path):
        """(status, body bytes) of a small GET."""
        status, headers, reader, writer = await self._open("GET", path)
        try:
            body = b""
            async for data in self._body(reader, headers):
                body += data
                if len(body) > MAX_ERROR_BODY:
                    break
            return status, body
        finally:
            writer.close()

    async def stream(self, path, payload, on_event, extra_headers=None):
        """POSTs payload; calls on_event(obj, t) for every SSE data event; returns when `[DONE]` arrives."""
        status, headers, reader, writer = await self._open("POST", path, json.dumps(payload).encode(), extra_headers)
        try:
            if status != 200:
                body = b""
                try:
                    async for data in self._body(reader, headers):
                        body += data
                        if len(body) > MAX_ERROR_BODY:
                            break
                except RequestFailed:
                    pass
                message = body.decode("utf-8", "replace")
                try:
                    message = json.loads(body)["error"]["message"]
                except (ValueError, KeyError, TypeError):
                    pass
                retry_after = None
                if "retry-after" in headers:
                    message += f" (Retry-After: {headers['retry-after']})"
                    try:
                        retry_after = float(headers["retry-after"])
                    except ValueError:
                        pass
                raise RequestFailed(f"http_{status}", message, status, retry_after)
            buffer = b""
            async for data in self._body(reader, headers):
                now = time.monotonic()
                buffer = (buffer + data).replace(b"\r\n", b"\n")
                while b"\n\n" in buffer:
                    event, buffer = buffer.split(b"\n\n", 1)
                    lines = [line[5:].removeprefix(b" ") for line in event.split(b"\n") if line.startswith(b"data:")]
                    if not lines:
                        continue  # a comment (": ping") or a field we do not use
                    data_text = b"\n".join(lines)
                    if data_text.strip() == b"[DONE]":
                        return
                    try:
                        obj = json.loads(data_text)
                    except ValueError:
                        raise RequestFailed("protocol", f"SSE data is not JSON: {data_text[:80]!r}")
                    if isinstance(obj, dict) and "error" in obj:
                        error = obj["error"]
                        raise RequestFailed("stream_error", error.get("message", str(error)) if isinstance(error, dict) else str(error))
                    on_event(obj, now)
            raise RequestFailed("connection_closed", "stream ended without data: [DONE]")
        finally:
            writer.close()


class Stream:
    """One measured request."""

    def __init__(self, rid, kind, prompt_tokens):
        self.id, self.kind, self.prompt_tokens = rid, kind, prompt_tokens
        self.start = self.end = None
        self.start_unix = None
        self.chunks = []  # monotonic arrival of each content chunk
        self.usage = None
        self.finish_reason = None
        self.error = None  # (kind, detail)
        self.status = self.retry_after = None

    def on_event(self, obj, now):
        choices = obj.get("choices") or []
        if choices:
            choice = choices[0]
            if choice.get("text"):
                self.chunks.append(now)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        if obj.get("usage"):
            self.usage = obj["usage"]

    @property
    def tokens(self):
        if self.usage and isinstance(self.usage.get("completion_tokens"), int):
            return self.usage["completion_tokens"]
        return len(self.chunks)

    @property
    def ttft(self):
        return self.chunks[0] - self.start if self.chunks else None

    def gaps(self):
        return [(a, b) for a, b in zip(self.chunks, self.chunks[1:])]

    def record(self, t0):
        return {
            "id": self.id, "kind": self.kind, "prompt_tokens": self.prompt_tokens,
            "start_s": round(self.start - t0, 6), "end_s": round(self.end - t0, 6) if self.end else None,
            "start_unix": self.start_unix, "ttft_ms": ms(self.ttft), "chunks": len(self.chunks),
            "completion_tokens": self.tokens if self.error is None else len(self.chunks),
            "usage": self.usage, "finish_reason": self.finish_reason,
            "ok": self.error is None, "error": self.error[0] if self.error else None,
            "detail": self.error[1] if self.error else None, "status": self.status,
        }


def ms(seconds):
    return None if seconds is None else round(seconds * 1000, 3)


class LoadGen:
    def __init__(self, args):
        self.args = args
        host, port, base = loopback_target(args.url)
        self.client = Client(host, port, base, args.api_key)
        self.send_ignore_eos = not args.no_ignore_eos
        lo, _, hi = args.token_range.partition("-")
        self.token_lo, self.token_hi = int(lo), int(hi)
        if not 0 <= self.token_lo <= self.token_hi:
            die("--token-range LO-HI with 0 <= LO <= HI")
        self.next_id = 0

    def prompt(self, rid, length):
        rng = random.Random(self.args.seed * 1_000_003 + rid)
        return [rng.randint(self.token_lo, self.token_hi) for _ in range(length)]

    def payload(self, rid, prompt_tokens, max_tokens):
        body = {
            "prompt": self.prompt(rid, prompt_tokens), "max_tokens": max_tokens,
            "temperature": self.args.temperature, "seed": self.args.seed + rid,
            "stream": True, "stream_options": {"include_usage": True},
        }
        if self.args.top_k is not None:
            body["top_k"] = self.args.top_k
        if self.args.model:
            body["model"] = self.args.model
        if self.send_ignore_eos:
            body["ignore_eos"] = True
        return body

    async def one(self, kind, prompt_tokens, max_tokens, rid=None, into=None):
        if rid is None:
            rid = self.next_id
            self.next_id += 1
        stream = Stream(rid, kind, prompt_tokens)
        if into is not None:
            into.append(stream)
        body = self.payload(rid, prompt_tokens, max_tokens)
        stream.start, stream.start_unix = time.monotonic(), time.time()
        try:
            await asyncio.wait_for(
                self.client.stream("/v1/completions", body, stream.on_event, {"X-Request-Id": f"loadgen-{rid}"}),
                self.args.timeout)
        except RequestFailed as error:
            stream.error, stream.status, stream.retry_after = (error.kind, error.detail), error.status, error.retry_after
        except asyncio.TimeoutError:
            stream.error = ("timeout", f"no [DONE] within {self.args.timeout} s")
        except (ConnectionResetError, BrokenPipeError) as error:
            stream.error = ("connection_reset", str(error))
        except OSError as error:
            stream.error = ("connection_error", str(error))
        except asyncio.CancelledError:
            stream.error = ("timeout", "cancelled at the level's hard time limit")
            stream.end = time.monotonic()
            raise
        stream.end = time.monotonic()
        return stream

    async def wait_ready(self):
        deadline = time.monotonic() + self.args.wait
        while True:
            try:
                status, body = await asyncio.wait_for(self.client.get("/health"), 10)
                if status == 200:
                    return
                problem = f"/health answered {status}"
            except (RequestFailed, OSError, asyncio.TimeoutError) as error:
                problem = f"/health: {error}"
            if time.monotonic() >= deadline:
                die(f"server not ready: {problem}")
            await asyncio.sleep(0.5)

    async def warm_up(self):
        for attempt in range(2):
            stream = await self.one("warmup", self.args.prompt_tokens, 2, rid=-1 - attempt)
            if stream.error is None:
                return
            if stream.error[0] == "http_400" and self.send_ignore_eos:
                print(f"loadgen: the server rejected a request with ignore_eos (400: {stream.error[1]}); sending "
                      "none from now on and relying on max_tokens", file=sys.stderr)
                self.send_ignore_eos = False
                continue
            die(f"warm-up request failed: {stream.error[0]}: {stream.error[1]}")
        die(f"warm-up request failed: {stream.error[0]}: {stream.error[1]}")

    async def level(self, concurrency):
        args = self.args
        t0 = time.monotonic()
        deadline = t0 + args.duration if args.duration else None
        limit = args.requests if args.requests is not None else (None if args.duration else 4 * concurrency)
        streams, long_streams = [], []
        issued = 0
        first_idle = []

        async def client():
            nonlocal issued
            while (limit is None or issued < limit) and (deadline is None or time.monotonic() < deadline):
                issued += 1
                stream = await self.one("normal", args.prompt_tokens, args.max_tokens, into=streams)
                if stream.error:  # do not spin on a refusing server: honour Retry-After (at most 5 s)
                    await asyncio.sleep(min(5.0, stream.retry_after) if stream.retry_after else 0.05)
            first_idle.append(time.monotonic())

        async def long_prompt():
            await asyncio.sleep(args.long_prompt_at)
            await self.one("long", args.long_prompt_tokens, args.long_max_tokens, into=long_streams)

        tasks = [asyncio.ensure_future(client()) for _ in range(concurrency)]
        if args.long_prompt_at is not None:
            tasks.append(asyncio.ensure_future(long_prompt()))
        hard_limit = (args.duration or 0) + (args.long_prompt_at or 0) + args.timeout * (
            1 if args.duration else max(1, -(-(limit or 1) // concurrency))) + 5
        done, pending = await asyncio.wait(tasks, timeout=hard_limit)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        wall = max([s.end for s in streams if s.end] + [t0]) - t0
        return self.summarize(concurrency, t0, wall, streams, long_streams, min(first_idle) if first_idle else None)

    def summarize(self, concurrency, t0, wall, streams, long_streams, first_idle):
        ok = [s for s in streams if s.error is None]
        errors = {}
        for s in streams + long_streams:
            if s.error:
                errors[s.error[0]] = errors.get(s.error[0], 0) + 1
        tokens = sum(s.tokens for s in ok) + sum(len(s.chunks) for s in streams if s.error)
        ttfts = [s.ttft for s in ok if s.ttft is not None]
        gaps = [(a, b) for s in streams for a, b in s.gaps()]
        short = sum(1 for s in ok if s.tokens < self.args.max_tokens)

        # Steady rate: tokens arriving while every client still had work, each content chunk weighted by its
        # stream's tokens per chunk (usage count over chunk count).
        steady = None
        if first_idle and first_idle > t0:
            weight_sum = 0.0
            for s in streams:
                if s.chunks:
                    per_chunk = (s.tokens / len(s.chunks)) if s.error is None else 1.0
                    weight_sum += per_chunk * sum(1 for t in s.chunks if t <= first_idle)
            steady = weight_sum / (first_idle - t0)

        level = {
            "concurrency": concurrency, "requests": len(streams), "ok": len(ok), "errors": errors,
            "short": short, "completion_tokens": tokens, "wall_s": round(wall, 4),
            "tok_s": tokens / wall if wall > 0 else None, "steady_tok_s": steady,
            "ttft_ms": {"p50": ms(percentile(ttfts, 50)), "p99": ms(percentile(ttfts, 99)),
                        "max": ms(max(ttfts) if ttfts else None)},
            "itl_ms": {"p50": ms(percentile([b - a for a, b in gaps], 50)),
                       "p99": ms(percentile([b - a for a, b in gaps], 99)),
                       "max": ms(max([b - a for a, b in gaps]) if gaps else None), "count": len(gaps)},
            "long": None,
        }
        if long_streams:
            long = long_streams[0]
            window_end = long.chunks[0] if long.chunks else long.end
            stalled = [b - a for a, b in gaps if b > long.start and a < window_end]
            outside = [b - a for a, b in gaps if not (b > long.start and a < window_end)]
            active = sum(1 for s in streams if s.start < long.start and s.end > window_end)
            level["long"] = {
                "prompt_tokens": long.prompt_tokens, "ok": long.error is None,
                "error": f"{long.error[0]}: {long.error[1]}" if long.error else None,
                "sent_at_s": round(long.start - t0, 4), "ttft_ms": ms(long.ttft),
                "window_ms": ms(window_end - long.start), "streams_running": active,
                "stall_max_ms": ms(max(stalled) if stalled else None), "stall_p99_ms": ms(percentile(stalled, 99)),
                "stall_gaps": len(stalled), "itl_p99_outside_ms": ms(percentile(outside, 99)),
            }
        level["requests_detail"] = [s.record(t0) for s in sorted(streams + long_streams, key=lambda s: s.start)]
        return level


HEADER = ("| {label}clients | requests | ok | errors | gen tok/s | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms "
          "| long-prompt TTFT ms | stall max ms | stall p99 ms |")


def fmt(value, digits=1):
    return "–" if value is None else f"{value:.{digits}f}"


def row(level, label):
    errors = sum(level["errors"].values())
    error_text = str(errors) if not errors else f"{errors} ({', '.join(f'{k}: {v}' for k, v in sorted(level['errors'].items()))})"
    long = level["long"] or {}
    long_ttft = fmt(long.get("ttft_ms"), 0) if long.get("ok", True) else "failed"
    return (f"| {label + ' | ' if label else ''}{level['concurrency']} | {level['requests']} | {level['ok']} | {error_text} "
            f"| {fmt(level['tok_s'])} | {fmt(level['ttft_ms']['p50'], 0)} | {fmt(level['ttft_ms']['p99'], 0)} "
            f"| {fmt(level['itl_ms']['p50'])} | {fmt(level['itl_ms']['p99'])} | {long_ttft if level['long'] else '–'} "
            f"| {fmt(long.get('stall_max_ms'), 0)} | {fmt(long.get('stall_p99_ms'), 0)} |")


async def main_async(args):
    gen = LoadGen(args)
    await gen.wait_ready()
    if args.warmup:
        await gen.warm_up()
    label = f"{args.label} | " if args.label else ""
    header = HEADER.format(label="server | " if args.label else "")
    if not args.no_header:
        print(header)
        print("|" + " --- |" * (header.count("|") - 1))
    levels = []
    for concurrency in args.concurrency:
        level = await gen.level(concurrency)
        levels.append(level)
        print(row(level, args.label), flush=True)
        if level["short"]:
            print(f"loadgen: {level['short']} of {level['ok']} streams at {concurrency} clients ended before "
                  f"max_tokens ({args.max_tokens})", file=sys.stderr)
        for failed in [r for r in level["requests_detail"] if not r["ok"]][:5]:
            print(f"loadgen: request {failed['id']} ({failed['kind']}) failed: {failed['error']}: {failed['detail']}",
                  file=sys.stderr)
    if args.json:
        config = {k: v for k, v in vars(args).items() if k != "api_key"}
        config["ignore_eos_sent"] = gen.send_ignore_eos
        with open(args.json, "w") as out:
            json.dump({"config": config, "levels": levels}, out, indent=1)
    return 0 if all(not level["errors"] for level in levels) else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="server base URL, loopback only")
    parser.add_argument("--concurrency", default="1 2 4 8 16", help='levels, run in turn (default "1 2 4 8 16")')
    parser.add_argument("--requests", type=int, help="requests per level (default: 4 per client without --duration)")
    parser.add_argument("--duration", type=float, help="seconds per level to keep sending requests")
    parser.add_argument("--prompt-tokens", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--top-k", type=int, help="sent as top_k when given")
    parser.add_argument("--seed", type=int, default=1, help="prompts and per-request seeds derive from it")
    parser.add_argument("--token-range", default="1-4095",
                        help="prompt token ids drawn from LO-HI (default 1-4095: valid for the built-in model and GPT-2, "
                             "and neither's end-of-text)")
    parser.add_argument("--long-prompt-at", type=float, metavar="T", help="send one long-prompt request T s into each level")
    parser.add_argument("--long-prompt-tokens", type=int, default=1000)
    parser.add_argument("--long-max-tokens", type=int, default=8, help="max_tokens of the long-prompt request")
    parser.add_argument("--timeout", type=float, default=300, help="seconds one request may take (default 300)")
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for /health to answer 200")
    parser.add_argument("--warmup", type=int, choices=(0, 1), default=1, help="one unmeasured request first (default 1)")
    parser.add_argument("--no-ignore-eos", action="store_true", help="do not send ignore_eos")
    parser.add_argument("--model", help="sent as the request's model field")
    parser.add_argument("--api-key", help="sent as Authorization: Bearer")
    parser.add_argument("--label", help="a first table column with this value (e.g. the server's name)")
    parser.add_argument("--no-header", action="store_true", help="table rows only")
    parser.add_argument("--json", help="write every level and request to this file")
    args = parser.parse_args()
    try:
        args.concurrency = [int(c) for c in args.concurrency.replace(",", " ").split()]
    except ValueError:
        parser.error("--concurrency: integers")
    if not args.concurrency or min(args.concurrency) < 1:
        parser.error("--concurrency: one or more levels >= 1")
    if args.duration is not None and args.duration <= 0:
        parser.error("--duration: > 0")
    if args.requests is not None and args.requests < 1:
        parser.error("--requests: >= 1")
    if args.prompt_tokens < 1 or args.max_tokens < 1 or args.long_prompt_tokens < 1:
        parser.error("--prompt-tokens, --max-tokens, --long-prompt-tokens: >= 1")
    try:
        return asyncio.run(main_async(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
