"""Real clients from PyPI against `encore serve` on 127.0.0.1: huggingface_hub's
InferenceClient, the openai SDK and langchain-huggingface, with results held
to sentence-transformers' and transformers' own outputs on the same texts
(tests/fixtures/reference, made by models/make_fixtures.py)."""

import numpy as np
import openai
import pytest
from huggingface_hub import InferenceClient
from langchain_huggingface import HuggingFaceEndpointEmbeddings

from conftest import assert_same_embedding, model_dir, reference


def by_name(ref, key="texts"):
    return {c["name"]: c for c in ref[key]}


def test_inference_client_text_classification(serve):
    ref = reference("tiny-bert-sst")
    s = serve("--model", model_dir("tiny-bert-sst"), "--auto-truncate")
    client = InferenceClient(model=s.url)
    n = 0
    for case in ref["cases"]:
        if case["text_pair"] is not None or case["too_long"] or not case["text"].strip() or "\x00" in case["text"]:
            continue
        # TEI answers one text with a flat list, best first, of which the
        # client keeps the first element: the top label and its score.
        out = client.text_classification(case["text"], top_k=2)
        want = dict(zip(ref["labels"], case["scores"]))
        assert out.label in want, out
        assert abs(out.score - want[out.label]) <= 1e-5, (case["name"], out, want)
        assert out.score >= max(want.values()) - 1e-5, (case["name"], out, want)
        n += 1
    assert n >= 20


def test_inference_client_feature_extraction_options(serve):
    ref = by_name(reference("tiny-bert-prompts"))
    s = serve("--model", model_dir("tiny-bert-prompts"))
    client = InferenceClient(model=s.url)
    for name, case in ref.items():
        text = case["text"]
        got = client.feature_extraction(text, truncate=True)
        assert got.shape == (1, 32), got.shape
        assert_same_embedding(got, case["embedding_default"])
        got = client.feature_extraction(text, truncate=True, prompt_name="passage")
        assert_same_embedding(got, case["embedding_passage"])
        got = client.feature_extraction(text, truncate=True, prompt_name="passage", normalize=False)
        assert_same_embedding(got, case["embedding_passage"], normalize=False)
        got = client.feature_extraction(text, truncate=True, prompt_name="passage", dimensions=16, normalize=True)
        assert got.shape == (1, 16), got.shape
        assert_same_embedding(got, case["embedding_passage_dim16"], normalize=False)
        got = client.feature_extraction(text, truncate=True, prompt_name="passage", truncation_direction="left")
        assert_same_embedding(got, case["embedding_passage_left"])
    # The references differ where the options differ, so the checks can fail.
    long = ref["long"]
    a, b = np.array(long["embedding_passage_left"]), np.array(long["embedding_passage"])
    assert a @ b / np.linalg.norm(a) / np.linalg.norm(b) < 0.999
    # A bad option is TEI's 422, raised by the client.
    with pytest.raises(Exception) as e:
        client.feature_extraction("a", prompt_name="nope")
    assert "422" in str(e.value) or getattr(getattr(e.value, "response", None), "status_code", None) == 422


def test_openai_embeddings(serve):
    ref = reference("tiny-bert-prompts")
    cases = by_name(ref)
    texts = [cases["short"]["text"], cases["sentence"]["text"], cases["unicode"]["text"]]
    # The default prompt is "passage" here, so the truncate_dim reference applies.
    s = serve("--model", model_dir("tiny-bert-prompts"), "--default-prompt-name", "passage", "--served-model-name",
              "tiny")
    client = openai.OpenAI(base_url=s.url + "/v1", api_key="unused", max_retries=0)
    for fmt in (openai.NOT_GIVEN, "float", "base64"):  # the SDK asks for base64 when not given
        r = client.embeddings.create(model="tiny", input=texts, encoding_format=fmt)
        assert r.model == "tiny" and r.object == "list"
        assert [d.index for d in r.data] == [0, 1, 2]
        for d, name in zip(r.data, ("short", "sentence", "unicode")):
            if isinstance(d.embedding, str):  # base64 asked explicitly: the SDK hands it over as is
                import base64
                emb = np.frombuffer(base64.b64decode(d.embedding), dtype="<f4")
            else:
                emb = d.embedding
            assert_same_embedding(emb, cases[name]["embedding_passage"])
        assert r.usage.prompt_tokens == sum(len(cases[n]["ids_passage"]) for n in ("short", "sentence", "unicode"))
        assert r.usage.total_tokens == r.usage.prompt_tokens
    r = client.embeddings.create(model="tiny", input=texts[0], dimensions=16)
    assert len(r.data[0].embedding) == 16
    assert_same_embedding(r.data[0].embedding, cases["short"]["embedding_passage_dim16"], normalize=False)
    # Token ids, as OpenAI's API takes them.
    r = client.embeddings.create(model="tiny", input=[cases["short"]["ids_passage"]], encoding_format="float")
    assert_same_embedding(r.data[0].embedding, cases["short"]["embedding_passage"])
    # Errors come back as the SDK's typed errors, with OpenAI's error body.
    with pytest.raises(openai.UnprocessableEntityError) as e:
        client.embeddings.create(model="tiny", input="a", dimensions=1000)
    assert e.value.status_code == 422
    assert "dimensions" in e.value.message
    with pytest.raises(openai.BadRequestError) as e:
        client.embeddings.create(model="tiny", input=[])
    assert e.value.status_code == 400


def test_langchain_huggingface_endpoint_embeddings(serve):
    cases = by_name(reference("tiny-bert-prompts"))
    s = serve("--model", model_dir("tiny-bert-prompts"), "--default-prompt", "")
    emb = HuggingFaceEndpointEmbeddings(model=s.url)
    names = ("short", "sentence", "unicode")
    docs = emb.embed_documents([cases[n]["text"] for n in names])
    assert len(docs) == 3
    for got, n in zip(docs, names):
        assert_same_embedding(got, cases[n]["embedding_none"])
    assert_same_embedding(emb.embed_query(cases["short"]["text"]), cases["short"]["embedding_none"])
