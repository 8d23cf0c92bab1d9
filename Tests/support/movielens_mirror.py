#!/usr/bin/env python3
"""A stand-in for files.grouplens.org in tests: serves a directory over HTTP on 127.0.0.1, with
byte ranges (as GroupLens's server does), a log of every request, and, when asked, a first
download cut off part-way, as a dropped connection would.

    movielens_mirror.py --root DIR --log FILE [--cut-after BYTES] [--parent PID]

Prints the port it listens on as its first line. Also builds test zips in MovieLens's layout:

    movielens_mirror.py --zip SRC_DIR NAME OUT_DIR     # OUT_DIR/NAME.zip and NAME.zip.md5
"""
import argparse
import hashlib
import http.server
import os
import sys
import threading
import zipfile


def make_zip(source, name, out):
    path = os.path.join(out, name + ".zip")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo(name + "/"), "")
        for file in sorted(os.listdir(source)):
            archive.write(os.path.join(source, file), f"{name}/{file}")
    digest = hashlib.md5(open(path, "rb").read()).hexdigest()
    # GroupLens's own format: "MD5 (ml-25m.zip) = ..."
    with open(path + ".md5", "w") as f:
        f.write(f"MD5 ({name}.zip) = {digest}\n")


def serve(root, log, cut_after):
    lock = threading.Lock()
    state = {"cut": cut_after}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            with lock, open(log, "a") as f:
                f.write(f"GET {self.path} {self.headers.get('Range', '-')}\n")
            path = os.path.join(root, os.path.basename(self.path))
            if not os.path.isfile(path):
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = open(path, "rb").read()
            start = 0
            wanted = self.headers.get("Range")
            if wanted and wanted.startswith("bytes=") and wanted.endswith("-"):
                start = int(wanted[6:-1])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            cut = None
            if path.endswith(".zip"):
                with lock:
                    cut, state["cut"] = state["cut"], None
            if cut is not None:
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root")
    parser.add_argument("--log")
    parser.add_argument("--cut-after", type=int)
    parser.add_argument("--parent", type=int, help="exit when this process has gone (the test that started us)")
    parser.add_argument("--zip", nargs=3, metavar=("SRC_DIR", "NAME", "OUT_DIR"))
    args = parser.parse_args()
    if args.zip:
        make_zip(*args.zip)
        return
    if args.parent:
        def watch():
            while True:
                try:
                    os.kill(args.parent, 0)
                except OSError:
                    os._exit(0)
                threading.Event().wait(1)
        threading.Thread(target=watch, daemon=True).start()
    serve(args.root, args.log, args.cut_after)


if __name__ == "__main__":
    sys.exit(main())
