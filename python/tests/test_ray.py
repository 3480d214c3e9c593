"""encore.ray on a real local Ray (ray.init(num_cpus=2)): 20,000 SST-2
train sentences written to Parquet, scored by TextClassifier actors through
Dataset.map_batches, equal to `encore score` on the same rows; pairs and
embeddings through read_json, equal to transformers' and
sentence-transformers' references."""

import json
import os
import subprocess

import numpy as np
import pytest

import pyarrow as pa  # noqa: E402
import ray  # noqa: E402  (ray[data], python/requirements-test.txt: missing, the suite fails)
import pyarrow.parquet as pq  # noqa: E402

import encore.ray  # noqa: E402
from conftest import (REFERENCE, REPO, SCORE_ATOL, SST2, assert_cosine, assert_same_output,  # noqa: E402
                      load_reference, model_dir)

N_ROWS = 20_000


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_WAIT_POLICY": "passive"}})
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


def _sst2_train(n):
    path = os.path.join(SST2, "train.tsv")
    if not os.path.isfile(path):
        pytest.fail("SST-2 train is missing at %s (see ../shared/data/sst2/SOURCE.md)" % path)
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        assert header == ["sentence", "label"], header
        rows = [line.rstrip("\n").split("\t")[0] for _, line in zip(range(n), f)]
    assert len(rows) == n
    return rows


def _encore_cli():
    cli = os.environ.get("ENCORE_CLI") or os.path.join(REPO, "build", "encore")
    if not os.access(cli, os.X_OK):
        pytest.fail("the encore CLI is missing at %s (scripts/setup.sh build builds it)" % cli)
    return cli


def test_parquet_20000_sst2_equals_encore_score(local_ray, tmp_path):
    texts = _sst2_train(N_ROWS)
    ids = ["r%d" % i for i in range(N_ROWS)]
    parquet = tmp_path / "sst2.parquet"
    pq.write_table(pa.table({"id": ids, "text": texts}), parquet, row_group_size=2_000)
    model = model_dir("encore-sst2-minilm")

    # encore score, the C command line, on the same rows.
    jsonl = tmp_path / "sst2.jsonl"
    with open(jsonl, "w", encoding="utf-8") as f:
        for i, t in zip(ids, texts):
            f.write(json.dumps({"id": i, "text": t}) + "\n")
    scored = tmp_path / "scored.jsonl"
    subprocess.run([_encore_cli(), "score", "--model", model, "--input", str(jsonl), "--output", str(scored),
                    "--threads", "2", "--progress", "none", "--quiet"], check=True)
    cli = {}
    with open(scored, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            assert "error" not in r, r
            cli[r["id"]] = (r["label"], r["score"])
    assert len(cli) == N_ROWS

    ds = ray.data.read_parquet(str(parquet), override_num_blocks=8)  # work for both actors
    # Two actors of one thread each. num_cpus=0.5 each leaves Ray one of its
    # two CPUs for the Parquet read tasks (actors holding both would starve
    # them: Ray Data waits forever).
    ds = ds.map_batches(encore.ray.TextClassifier, fn_constructor_kwargs={"model": model, "threads": 1},
                        concurrency=2, num_cpus=0.5, batch_size=500, batch_format="numpy")
    rows = ds.take_all()
    assert len(rows) == N_ROWS
    assert {r["id"] for r in rows} == set(ids)
    mismatched = [r["id"] for r in rows
                  if r["label"] != cli[r["id"]][0] or np.float32(r["score"]) != np.float32(cli[r["id"]][1])]
    # Exactly equal: a text's result does not depend on its batch or threads,
    # and the CLI prints each float32 score with the digits that read back.
    assert not mismatched, "%d rows differ from encore score, e.g. %s" % (len(mismatched), mismatched[:5])
    labels = [r["label"] for r in rows]
    assert set(labels) == {"NEGATIVE", "POSITIVE"}


def test_read_json_pairs_and_pandas_batches(local_ray, tmp_path):
    case = [c for c in load_reference("encore-sst2-minilm.classify.json")["cases"] if c["name"] == "pair_list"][0]
    path = tmp_path / "pairs.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for i, p in enumerate(case["inputs"]):
            f.write(json.dumps({"n": i, "premise": p["text"], "hypothesis": p["text_pair"]}) + "\n")
    ds = ray.data.read_json(str(path)).map_batches(
        encore.ray.TextClassifier, concurrency=1, num_cpus=0.5, batch_size=2, batch_format="pandas",
        fn_constructor_kwargs={"model": model_dir("encore-sst2-minilm"), "text_column": "premise",
                               "pair_column": "hypothesis", "label_column": "sentiment", "score_column": "p"})
    rows = sorted(ds.take_all(), key=lambda r: r["n"])
    out = [{"label": r["sentiment"], "score": float(r["p"])} for r in rows]
    assert_same_output(out, case["output"], SCORE_ATOL)


def test_embedder_equals_sentence_transformers(local_ray, tmp_path):
    case = [c for c in load_reference("all-minilm-l6-v2.encode.json")["cases"] if c["name"] == "list"][0]
    ref = np.load(os.path.join(REFERENCE, "all-minilm-l6-v2.encode.npz"))["list"]
    path = tmp_path / "texts.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for i, t in enumerate(case["inputs"]):
            f.write(json.dumps({"n": i, "text": t}) + "\n")
    ds = ray.data.read_json(str(path)).map_batches(
        encore.ray.Embedder, concurrency=2, num_cpus=0.5, batch_size=4,
        fn_constructor_kwargs={"model": model_dir("all-minilm-l6-v2"), "threads": 1})
    rows = sorted(ds.take_all(), key=lambda r: r["n"])
    emb = np.stack([r["embedding"] for r in rows])
    assert emb.dtype == np.float32 and emb.shape == ref.shape
    assert_cosine(emb, ref)
