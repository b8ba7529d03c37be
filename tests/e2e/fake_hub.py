#!/usr/bin/env python3
"""A stand-in for the Hugging Face hub, serving one model folder to `glmasr download` tests.

It speaks the two endpoints the client uses:
  GET /api/models/{repo}/tree/{revision}?recursive=true[&cursor=N]   file list, paged by Link
  GET /{repo}/resolve/{revision}/{path}                              contents (Range supported)
and can misbehave on purpose: cut a transfer off midway, serve corrupted bytes, demand a token.

Binds 127.0.0.1 only, on an ephemeral port written to --port-file, logs one JSON line per
request to --log, and shuts itself down after --lifetime seconds whatever happens.
"""
import argparse
import hashlib
import json
import os
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

LFS_MIN_SIZE = 1024  # files this large are listed as LFS files, with their SHA-256


def git_blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def list_folder(root):
    entries = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        rel_folder = os.path.relpath(folder, root)
        if rel_folder != ".":
            entries.append({"type": "directory", "path": rel_folder.replace(os.sep, "/"),
                            "oid": "0" * 40, "size": 0})
        for name in sorted(files):
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                data = f.read()
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            entry = {"type": "file", "path": rel, "size": len(data)}
            if len(data) >= LFS_MIN_SIZE:
                sha = hashlib.sha256(data).hexdigest()
                pointer = ("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n"
                           % (sha, len(data))).encode()
                entry["oid"] = git_blob_id(pointer)
                entry["lfs"] = {"oid": sha, "size": len(data), "pointerSize": len(pointer)}
            else:
                entry["oid"] = git_blob_id(data)
            entries.append(entry)
    return entries


def make_handler(args, state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *values):
            pass  # requests go to --log as JSON instead

        def record(self, status):
            with state["lock"]:
                with open(args.log, "a") as log:
                    log.write(json.dumps({
                        "path": self.path, "status": status,
                        "range": self.headers.get("Range"),
                        "authorization": self.headers.get("Authorization"),
                    }) + "\n")

        def send_json(self, status, value, extra_headers=()):
            body = json.dumps(value).encode()
            self.record(status)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in extra_headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            parts = url.path.split("/")
            if args.token and self.headers.get("Authorization") != "Bearer " + args.token:
                return self.send_json(401, {"error": "Invalid credentials"})
            # /api/models/{owner}/{name}/tree/{revision}
            if len(parts) >= 7 and parts[1:3] == ["api", "models"] and parts[5] == "tree":
                return self.tree("/".join(parts[3:5]), urllib.parse.unquote(parts[6]), url.query)
            # /{owner}/{name}/resolve/{revision}/{path...}
            if len(parts) >= 6 and parts[3] == "resolve":
                return self.resolve("/".join(parts[1:3]), urllib.parse.unquote(parts[4]),
                                    urllib.parse.unquote("/".join(parts[5:])))
            # /cdn/{path...}: where resolve redirects to in --redirect mode
            if len(parts) >= 3 and parts[1] == "cdn":
                return self.contents(urllib.parse.unquote("/".join(parts[2:])))
            return self.send_json(404, {"error": "Not found"})

        def tree(self, repo, revision, query):
            if repo != args.repo:
                return self.send_json(404, {"error": "Repository not found"})
            if revision != "main":
                return self.send_json(404, {"error": "Invalid rev id: " + revision})
            entries = list_folder(args.root)
            cursor = int(urllib.parse.parse_qs(query).get("cursor", ["0"])[0])
            headers = []
            page = entries
            if args.page_size:
                page = entries[cursor:cursor + args.page_size]
                if cursor + args.page_size < len(entries):
                    host, port = self.server.server_address[:2]
                    next_url = "http://%s:%d/api/models/%s/tree/%s?recursive=true&cursor=%d" % (
                        host, port, repo, revision, cursor + args.page_size)
                    headers.append(("Link", '<%s>; rel="next"' % next_url))
            return self.send_json(200, page, headers)

        def resolve(self, repo, revision, path):
            if repo != args.repo or revision != "main":
                return self.send_json(404, {"error": "Repository not found"})
            if args.redirect:
                self.record(302)
                self.send_response(302)
                self.send_header("Location", "/cdn/" + urllib.parse.quote(path))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            return self.contents(path)

        def contents(self, path):
            full = os.path.realpath(os.path.join(args.root, path))
            if not full.startswith(os.path.realpath(args.root) + os.sep) or not os.path.isfile(full):
                return self.send_json(404, {"error": "Entry not found"})
            with open(full, "rb") as f:
                data = f.read()
            if args.mode == "corrupt" and path == args.target:
                flipped = bytearray(data)
                flipped[len(flipped) // 2] ^= 0xFF
                data = bytes(flipped)
            start = 0
            range_header = self.headers.get("Range")
            if range_header and range_header.startswith("bytes=") and range_header.endswith("-"):
                start = int(range_header[len("bytes="):-1])
                if start >= len(data):
                    self.record(416)
                    self.send_response(416)
                    self.send_header("Content-Range", "bytes */%d" % len(data))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            body = data[start:]
            status = 206 if range_header else 200
            self.record(status)
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            if status == 206:
                self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
            self.end_headers()
            cut = path == args.target and (
                args.mode == "cut-always" or (args.mode == "cut-once" and not state["cut_done"]))
            if cut:
                # Send the first half of the file, then drop the connection mid-body.
                state["cut_done"] = True
                self.wfile.write(body[:max(0, len(data) // 2 - start)])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="the model folder to serve")
    parser.add_argument("--repo", default="test-org/tiny-model")
    parser.add_argument("--mode", default="normal", choices=["normal", "cut-once", "cut-always", "corrupt"])
    parser.add_argument("--target", default="", help="file the cut/corrupt modes act on")
    parser.add_argument("--token", default="", help="require 'Authorization: Bearer TOKEN'")
    parser.add_argument("--page-size", type=int, default=0, help="tree entries per page (0: one page)")
    parser.add_argument("--redirect", action="store_true", help="resolve answers 302 to /cdn/PATH")
    parser.add_argument("--log", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--lifetime", type=float, default=120.0)
    args = parser.parse_args()

    state = {"lock": threading.Lock(), "cut_done": False}
    server = HTTPServer(("127.0.0.1", 0), make_handler(args, state))
    # The bounded lifetime: whatever the test does, the server goes away.
    timer = threading.Timer(args.lifetime, server.shutdown)
    timer.daemon = True
    timer.start()
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, args.port_file)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
