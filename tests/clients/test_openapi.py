"""schemathesis (from PyPI) against `encore serve` on 127.0.0.1, for a
classifier, an embedding model and a cross-encoder, with a bounded number of
examples per route and a fixed seed:

- with the server's own OpenAPI document (tools/serve/openapi.json, which GET
  /openapi.json serves): every check (server errors, status codes, content
  types, headers, response schemas, valid data accepted and invalid data
  rejected);
- with TEI's own published document (tests/clients/tei/openapi-1.7.1.json,
  see its NOTICE): every check but the status codes, which that document
  leaves incomplete (tests/clients/tei/schemathesis.toml says what and why).

POST / and POST /invocations run whichever task the model has, so their
body is any of three request schemas; a body made invalid for one of them
can be valid for another, so those two run with valid data only."""

import os
import subprocess
import sys

import pytest

from conftest import ROOT, model_dir

SCHEMA = os.path.join(ROOT, "tools", "serve", "openapi.json")
HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(HERE, "schemathesis.toml")
TEI_SCHEMA = os.path.join(HERE, "tei", "openapi-1.7.1.json")
TEI_CONFIG = os.path.join(HERE, "tei", "schemathesis.toml")
ST = os.path.join(os.path.dirname(sys.executable), "schemathesis")
MODEL_ROUTES = ["--include-operation-id", "model_task", "--include-operation-id", "invocations"]
NOT_MODEL_ROUTES = ["--exclude-operation-id", "model_task", "--exclude-operation-id", "invocations"]


def schemathesis(url, workdir, *args, schema=SCHEMA, config=CONFIG, checks=("--checks", "all")):
    cmd = [ST, "--config-file", config, "run", schema, "--url", url, *checks, "--max-examples", "25",
           "--seed", "20261201", "--generation-database", "none", "--no-color", "--workers", "1",
           "--request-timeout", "30", *args]
    # (run in a scratch directory: schemathesis keeps a cache where it runs)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=workdir)
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-2000:]
    assert "failure" not in proc.stdout.splitlines()[-1], proc.stdout[-4000:]
    return proc.stdout


@pytest.mark.parametrize("model", ["tiny-bert-sst", "tiny-bert-prompts", "tiny-bert-rerank"])
def test_schemathesis_finds_nothing(serve, model, tmp_path):
    s = serve("--model", model_dir(model), "--max-client-batch-size", "8")
    out = schemathesis(s.url, tmp_path, *NOT_MODEL_ROUTES)
    assert "Tested: 15" in out, out[-3000:]
    out = schemathesis(s.url, tmp_path, "--mode", "positive", *MODEL_ROUTES)
    assert "Tested: 2" in out, out[-3000:]


@pytest.mark.parametrize("model", ["tiny-bert-sst", "tiny-bert-prompts", "tiny-bert-rerank"])
def test_schemathesis_with_teis_published_document(serve, model, tmp_path):
    s = serve("--model", model_dir(model), "--max-client-batch-size", "8")
    out = schemathesis(s.url, tmp_path, schema=TEI_SCHEMA, config=TEI_CONFIG, checks=())
    assert "Tested: 12" in out, out[-3000:]
