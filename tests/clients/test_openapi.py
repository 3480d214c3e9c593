"""schemathesis (from PyPI) against `encore serve` on 127.0.0.1, for a
classifier, an embedding model and a cross-encoder (and, on POST / and
/invocations, a fill-mask model, an NLI classifier, a token classifier and a
question-answering model), with a bounded number of examples per route and a
fixed seed:

- with the server's own OpenAPI document (tools/serve/openapi.json, which GET
  /openapi.json serves): every check (server errors, status codes, content
  types, headers, response schemas, valid data accepted and invalid data
  rejected);
- with TEI's own published document (tests/clients/tei/openapi-1.7.1.json,
  see its NOTICE): every check, the status codes through
  tei/tei_status_codes.py: schemathesis' own status-code check, except for
  the two statuses TEI itself answers that its document leaves out (400
  Empty, 503 Unhealthy; tests/clients/tei/schemathesis.toml says why).

POST / and POST /invocations run whichever task the model has, so their
body is any of the request schemas of the tasks (the TEI routes' and the
Hugging Face Inference API's pipeline payloads) and their answer any of the
tasks' responses; a body made invalid for one of them can be valid for
another, so those two run with valid data only."""

import json
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


def schemathesis(url, workdir, *args, schema=SCHEMA, config=CONFIG, checks=("--checks", "all"), hooks=None):
    cmd = [ST, "--config-file", config, "run", schema, "--url", url, *checks, "--max-examples", "25",
           "--seed", "20261201", "--generation-database", "none", "--no-color", "--workers", "1",
           "--request-timeout", "30", *args]
    env = dict(os.environ)
    if hooks:
        env["SCHEMATHESIS_HOOKS"] = hooks
        env["ENCORE_TEI_STATUS_LOG"] = os.path.join(str(workdir), "statuses.log")
        env["PYTHONPATH"] = os.path.join(HERE, "tei") + os.pathsep + env.get("PYTHONPATH", "")
    # (run in a scratch directory: schemathesis keeps a cache where it runs)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-2000:]
    assert "failure" not in proc.stdout.splitlines()[-1], proc.stdout[-4000:]
    return proc.stdout


@pytest.mark.parametrize("model", ["tiny-bert-sst", "tiny-bert-prompts", "tiny-bert-rerank"])
def test_schemathesis_finds_nothing(serve, model, tmp_path):
    s = serve("--model", model_dir(model), "--max-client-batch-size", "8")
    out = schemathesis(s.url, tmp_path, *NOT_MODEL_ROUTES)
    assert "Tested: 16" in out, out[-3000:]
    out = schemathesis(s.url, tmp_path, "--mode", "positive", *MODEL_ROUTES)
    assert "Tested: 2" in out, out[-3000:]


@pytest.mark.parametrize("model", ["tiny-bert-sst", "tiny-bert-prompts", "tiny-bert-rerank"])
def test_schemathesis_with_teis_published_document(serve, model, tmp_path):
    s = serve("--model", model_dir(model), "--max-client-batch-size", "8")
    out = schemathesis(s.url, tmp_path, schema=TEI_SCHEMA, config=TEI_CONFIG, checks=(), hooks="tei_status_codes")
    assert "Tested: 12" in out, out[-3000:]
    # The status-code check ran, on every route, on refusals too.
    seen = open(os.path.join(str(tmp_path), "statuses.log"), encoding="utf-8").read().split("\n")
    routes = {line.split(" ")[1] for line in seen if line}
    codes = {line.split(" ")[-1] for line in seen if line}
    assert len(routes) == 12, routes
    assert {"200", "422"} <= codes, codes


PIPELINES = [("tiny-bert-mlm", "FillMask"), ("tiny-bert-nli", "ZeroShot"), ("tiny-bert-ner", "TokenClassification"),
             ("tiny-bert-qa", "QuestionAnswering")]


@pytest.mark.parametrize("model,task", PIPELINES)
def test_schemathesis_finds_nothing_on_pipeline_models(serve, model, task, tmp_path):
    """The task payloads of POST / (fill-mask, zero-shot, token
    classification, question answering): every check, response schema
    conformance included, on the model routes; first with the whole
    document (valid data only, its example requests among the bodies), then
    with the document narrowed to the model's own task, invalid data too, so
    that the types, enums and bounds it gives are the ones the server
    enforces. A zero-shot body without candidate_labels is a /predict body
    (the NLI model classifies it), so that task runs with valid data only."""
    s = serve("--model", model_dir(model), "--max-client-batch-size", "8")
    out = schemathesis(s.url, tmp_path, "--mode", "positive", *MODEL_ROUTES)
    assert "Tested: 2" in out, out[-3000:]
    with open(SCHEMA, encoding="utf-8") as f:
        doc = json.load(f)
    for path in ("/", "/invocations"):
        op = doc["paths"][path]["post"]
        body = op["requestBody"]["content"]["application/json"]
        body["schema"] = {"$ref": "#/components/schemas/%sRequest" % task}
        del body["examples"]
        op["responses"]["200"]["content"]["application/json"]["schema"] = {
            "$ref": "#/components/schemas/%sResponse" % task}
    schemas = doc["components"]["schemas"]
    if task == "TokenClassification":
        # The whole document keeps empty texts out, as they are 400 (Empty)
        # for a body that runs /predict or /embed; a token classifier
        # answers [] for one, as the pipeline does.
        for text in schemas["PipelineInput"]["oneOf"]:
            text.get("items", text).pop("minLength")
    if task == "FillMask":
        # Texts with a mask, so that the parameters decide the answer
        # (a text without one is 422 whatever they are).
        for text in schemas["PipelineInput"]["oneOf"]:
            text.get("items", text)["pattern"] = r"^([a-z]{1,8} ){0,3}\[MASK\]( [a-z]{1,8}){0,3}$"
    if task == "QuestionAnswering":
        # Words, so that the parameters decide the answer (an empty
        # question is 422 whatever they are).
        pair = schemas["QuestionAnsweringInput"]["properties"]
        pair["question"]["pattern"] = r"^[a-z]{1,8}( [a-z]{1,8}){0,4}\?$"
        pair["context"]["pattern"] = r"^[a-z]{1,8}( [a-z]{1,8}){0,20}\.$"
    narrowed = os.path.join(str(tmp_path), "openapi-%s.json" % task)
    with open(narrowed, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    mode = ("--mode", "positive") if task == "ZeroShot" else ()
    out = schemathesis(s.url, tmp_path, *mode, *MODEL_ROUTES, schema=narrowed)
    assert "Tested: 2" in out, out[-3000:]
