#!/usr/bin/env python3
"""A stand-in for the Hugging Face Hub on 127.0.0.1, for the images'
--model-id path (encore pull) where huggingface.co cannot be reached. It
serves one local model directory as REPO at revision main, speaking the part
of the Hub's protocol that huggingface_hub and encore pull use:

  GET       /api/models/REPO/revision/main  -> {"sha": COMMIT, "siblings": [{"rfilename": ...}]}
  HEAD, GET /REPO/resolve/COMMIT/FILE      -> the file, its ETag, X-Repo-Commit

  fake_hub.py REPO DIR      prints the port it listens on, then serves until killed
"""
import hashlib
import http.server
import json
import os
import sys

COMMIT = hashlib.sha1(b"encore container test").hexdigest()


def main():
    repo, root = sys.argv[1], sys.argv[2]
    files = sorted(f for f in os.listdir(root) if os.path.isfile(os.path.join(root, f)))

    class Hub(http.server.BaseHTTPRequestHandler):
        def answer(self, body):
            path = self.path.split("?")[0]
            if path in (f"/api/models/{repo}/revision/main", f"/api/models/{repo}/revision/{COMMIT}"):
                data = json.dumps({"id": repo, "sha": COMMIT, "siblings": [{"rfilename": f} for f in files]}).encode()
                etag = None
            else:
                prefix = f"/{repo}/resolve/"
                rev, _, name = path[len(prefix):].partition("/") if path.startswith(prefix) else ("", "", "")
                if rev not in ("main", COMMIT) or name not in files:
                    self.send_error(404)
                    return
                with open(os.path.join(root, name), "rb") as f:
                    data = f.read()
                etag = hashlib.sha1(data).hexdigest()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Repo-Commit", COMMIT)
            if etag:
                self.send_header("ETag", f'"{etag}"')
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_GET(self):
            self.answer(True)

        def do_HEAD(self):
            self.answer(False)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
