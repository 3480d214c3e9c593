"""Start `encore serve` on 127.0.0.1 for the client tests, and read the
fixtures' references (made with sentence-transformers, committed)."""

import json
import os
import select
import signal
import subprocess
import time

# Nothing may reach the Hugging Face Hub: huggingface_hub fetches a registry
# from its endpoint on first use (and HF_HUB_OFFLINE would stop the client
# from reaching encore too), so the endpoint is a closed port on 127.0.0.1.
# Set before the clients are imported.
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("HF_HOME", os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "build", "hf-home-clients"))

import socket  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# And every connection the clients open must go to 127.0.0.1: any other
# address fails the test that made it.
_connect = socket.socket.connect


def _loopback_only(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"a client tried to reach {address}: tests talk to 127.0.0.1 only")
    return _connect(self, address)


socket.socket.connect = _loopback_only

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
ENCORE = os.environ.get("ENCORE_CLI", os.path.join(ROOT, "build", "encore"))


def model_dir(name):
    return os.path.join(FIXTURES, "models", name)


def reference(name):
    with open(os.path.join(FIXTURES, "reference", name + ".json"), encoding="utf-8") as f:
        return json.load(f)


class Server:
    """One `encore serve` process; url is its base URL."""

    def __init__(self, *args):
        if not os.access(ENCORE, os.X_OK):
            raise RuntimeError(f"no encore binary at {ENCORE} (set ENCORE_CLI)")
        self.proc = subprocess.Popen([ENCORE, "serve", "--port", "0", "--quiet", "--threads", "1", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                out += chunk
                if b"listening on http://127.0.0.1:" in out and out.endswith(b"\n"):
                    port = int(out.split(b"listening on http://127.0.0.1:")[1].split()[0])
                    self.url = f"http://127.0.0.1:{port}"
                    return
        self.stop()
        raise RuntimeError(f"encore serve did not start: {out!r} {self.proc.stderr.read()!r}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def serve():
    servers = []

    def start(*args):
        s = Server(*args)
        servers.append(s)
        return s

    yield start
    for s in servers:
        assert s.stop() == 0


# The server runs encore's fp32 CPU path, the references torch's: the C tests
# hold them within 1e-5 elementwise; clients are held to a cosine of 0.99999
# and the same elementwise bound.
COSINE = 0.99999
ATOL = 1e-5


def assert_same_embedding(got, want, normalize=True):
    got = np.asarray(got, dtype=np.float64).reshape(-1)
    want = np.asarray(want, dtype=np.float64).reshape(-1)
    assert got.shape == want.shape and got.size > 0, (got.shape, want.shape)
    assert np.all(np.isfinite(got)) and np.all(np.isfinite(want))
    cos = float(got @ want / np.sqrt((got @ got) * (want @ want)))
    assert cos >= COSINE, cos
    if normalize:
        want = want / np.linalg.norm(want)
    assert np.max(np.abs(got - want)) <= ATOL, np.max(np.abs(got - want))
