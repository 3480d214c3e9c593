"""hf_server.py: the peer for bench/serve/run.sh, a minimal HTTP server around
transformers' pipeline("text-classification") on the same model directory.

POST /predict {"inputs": "text"} answers the pipeline's output for the text
with every label, best first ([{"label": ..., "score": ...}, ...]), as
encore's /predict does. Standard library HTTP (keep-alive, one thread per
connection); the pipeline runs one call at a time under a lock (a pipeline
is not safe to call from several threads at once; torch uses its own intra-op
threads). Usage: python hf_server.py MODEL_DIR PORT
"""
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from transformers import pipeline  # noqa: E402

MODEL_DIR, PORT = sys.argv[1], int(sys.argv[2])
CLASSIFIER = pipeline("text-classification", model=MODEL_DIR, device=-1)
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as wrk expects

    def reply(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.reply(200, {"model": MODEL_DIR})

    def do_POST(self):
        try:
            length = int(self.headers.get("Content-Length", "0"))
            inputs = json.loads(self.rfile.read(length))["inputs"]
            with LOCK:
                out = CLASSIFIER(inputs, top_k=None, truncation=True)
            self.reply(200, out)
        except Exception as e:  # a bad request must not kill the server
            self.reply(422, {"error": str(e), "error_type": "validation"})

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
