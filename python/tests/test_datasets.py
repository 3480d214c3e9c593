"""The Hugging Face datasets example of the README: Dataset.map(batched=True)
adding a label column with an encore pipeline, and streaming a column
through the pipeline; labels and scores equal transformers' references."""

import datasets
import pytest

import encore
from conftest import SCORE_ATOL, assert_same_output, load_reference, model_dir


def _case(name):
    return [c for c in load_reference("encore-sst2-minilm.classify.json")["cases"] if c["name"] == name][0]


def test_map_batched_adds_a_label_column():
    case = _case("extra_texts")  # 64 SST-2 dev sentences, top_k=None in transformers
    ds = datasets.Dataset.from_dict({"sentence": case["inputs"]})
    classify = encore.pipeline("text-classification", model=model_dir("encore-sst2-minilm"))

    def add_labels(batch):
        out = classify(batch["sentence"])
        return {"label": [o["label"] for o in out], "score": [o["score"] for o in out]}

    ds = ds.map(add_labels, batched=True, batch_size=16)
    assert ds.column_names == ["sentence", "label", "score"]
    best = [{"label": r[0]["label"], "score": r[0]["score"]} for r in case["output"]]
    got = [{"label": label, "score": score} for label, score in zip(ds["label"], ds["score"])]
    assert_same_output(got, best, SCORE_ATOL)


def test_stream_a_dataset_column():
    case = _case("generator")
    ds = datasets.Dataset.from_dict({"text": case["inputs"]})
    classify = encore.pipeline("text-classification", model=model_dir("encore-sst2-minilm"), batch_size=4)
    out = classify(ds["text"] if not isinstance(ds["text"], list) else iter(ds["text"]))
    assert not isinstance(out, list)  # a stream in, a generator out, as `for out in pipe(dataset)`
    assert_same_output(list(out), case["output"], SCORE_ATOL)


def test_rows_of_a_dataset_say_to_pass_a_column():
    ds = datasets.Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]})
    classify = encore.pipeline("text-classification", model=model_dir("tiny-bert-sst"))
    with pytest.raises(ValueError, match="pass a column"):
        list(classify(ds))
