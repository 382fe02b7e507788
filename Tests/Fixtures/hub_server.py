#!/usr/bin/env python3
"""A tiny stand-in for the Hugging Face hub, for download tests. Listens on 127.0.0.1 only and prints its port.

    python3 hub_server.py --repo test-org/tiny=/path/to/folder [--cut-after N] [--corrupt] [--ignore-range] [--log FILE]

Serves `/{org}/{name}/resolve/{revision}/{file}` as the hub does: small files with an ETag (git-style sha1)
and X-Repo-Commit; `*.safetensors` files as a 302 redirect to `/cdn/{sha256}` carrying X-Linked-Etag
(the SHA-256) and X-Linked-Size. `/cdn/...` honours `Range: bytes=N-`. Test switches:
  --cut-after N   the first transfer of each CDN file stops after N bytes (the connection is closed)
  --corrupt       CDN content has one byte changed (so its SHA-256 no longer matches the ETag)
  --ignore-range  answer Range requests with 200 and the whole file
  --throttle B    send CDN content at about B bytes per second (4 KiB at a time), so a client can be killed mid-transfer
Exits on its own after --lifetime seconds (default 300).
"""
import argparse
import hashlib
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", action="append", default=[])
    parser.add_argument("--cut-after", type=int, default=0)
    parser.add_argument("--corrupt", action="store_true")
    parser.add_argument("--ignore-range", action="store_true")
    parser.add_argument("--throttle", type=int, default=0)
    parser.add_argument("--log")
    parser.add_argument("--lifetime", type=float, default=300)
    args = parser.parse_args()
    # A test runner may start us with signals blocked; make sure SIGTERM/SIGINT can stop us.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])

    repos = {}
    blobs = {}
    for spec in args.repo:
        name, folder = spec.split("=", 1)
        files = {}
        for entry in sorted(os.listdir(folder)):
            with open(os.path.join(folder, entry), "rb") as f:
                data = f.read()
            files[entry] = data
            if entry.endswith(".safetensors"):
                blobs[hashlib.sha256(data).hexdigest()] = data
        repos[name] = files
    cut_done = set()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def record(self):
            if args.log:
                with lock, open(args.log, "a") as f:
                    f.write(f"{self.command} {self.path} range={self.headers.get('Range')}\n")

        def do_HEAD(self):
            self.handle_request(body=False)

        def do_GET(self):
            self.handle_request(body=True)

        def send(self, status, headers, data=b"", body=True):
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body and data:
                self.wfile.write(data)

        def handle_request(self, body):
            self.record()
            parts = self.path.split("/")
            if len(parts) >= 3 and parts[1] == "cdn":
                return self.serve_blob(parts[2], body)
            # /org/name/resolve/revision/file
            if len(parts) != 6 or parts[3] != "resolve":
                return self.send(404, {"X-Error-Code": "RepoNotFound"}, b"not found", body)
            repo, filename = parts[1] + "/" + parts[2], parts[5]
            files = repos.get(repo)
            if files is None:
                return self.send(404, {"X-Error-Code": "RepoNotFound"}, b"no such repo", body)
            if filename not in files:
                return self.send(404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT}, b"no such file", body)
            data = files[filename]
            if filename.endswith(".safetensors"):
                sha = hashlib.sha256(data).hexdigest()
                return self.send(302, {"Location": f"/cdn/{sha}", "X-Repo-Commit": COMMIT, "X-Linked-Etag": f'"{sha}"',
                                       "X-Linked-Size": str(len(data)), "ETag": '"W/abc"'}, b"", body)
            sha1 = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            self.send(200, {"ETag": f'"{sha1}"', "X-Repo-Commit": COMMIT}, data, body)

        def serve_blob(self, sha, body):
            data = blobs.get(sha)
            if data is None:
                return self.send(404, {}, b"no blob", body)
            if args.corrupt:
                data = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
            start = 0
            requested = self.headers.get("Range")
            if requested and not args.ignore_range and requested.startswith("bytes=") and requested.endswith("-"):
                start = int(requested[6:-1])
                if start >= len(data):
                    return self.send(416, {"Content-Range": f"bytes */{len(data)}"}, b"", body)
            chunk = data[start:]
            status = 206 if start > 0 else 200
            headers = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
            if status == 206:
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            if not body:
                return self.send(status, headers, chunk, body=False)
            with lock:
                cut = args.cut_after and sha not in cut_done and start == 0
                if cut:
                    cut_done.add(sha)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(chunk)))
            self.end_headers()
            if cut:
                self.wfile.write(chunk[:args.cut_after])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            if args.throttle:
                try:
                    for offset in range(0, len(chunk), 4096):
                        self.wfile.write(chunk[offset:offset + 4096])
                        self.wfile.flush()
                        time.sleep(4096 / args.throttle)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True   # the client went away (killed): nothing to finish
                return
            self.wfile.write(chunk)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    threading.Timer(args.lifetime, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
