"""The peer in bench/triton/run.sh: Triton's Python backend running
transformers' pipeline("text-classification"), the way PyTriton users serve a
Hugging Face model. Same tensors as the encore backend: TEXT in, SCORES (in
id2label order) and LABEL out; the dynamic batcher's requests go through the
pipeline together."""
import json
import os
import sys

# The stub's embedded Python ignores PYTHONPATH; run.sh says where torch,
# transformers and numpy are (a colon-separated list, searched in order).
for _path in reversed(os.environ.get("BENCH_PYTHON_PATH", "").split(":")):
    if _path:
        sys.path.insert(0, _path)

import numpy as np  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402
from transformers import pipeline  # noqa: E402


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        model_dir = config["parameters"]["model_directory"]["string_value"]
        self.pipe = pipeline("text-classification", model=model_dir, top_k=None, device=-1)
        id2label = self.pipe.model.config.id2label
        self.labels = [id2label[i] for i in range(len(id2label))]

    def execute(self, requests):
        texts, counts = [], []
        for request in requests:
            arr = pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy().reshape(-1)
            texts.extend(t.decode("utf-8") for t in arr)
            counts.append(len(arr))
        results = self.pipe(texts, batch_size=len(texts), truncation=True)
        scores = np.array([[{r["label"]: r["score"] for r in res}[l] for l in self.labels] for res in results],
                          dtype=np.float32)
        responses, start = [], 0
        for n in counts:
            rows = scores[start:start + n]
            labels = np.array([[self.labels[int(np.argmax(r))].encode()] for r in rows], dtype=np.object_)
            responses.append(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor("SCORES", rows), pb_utils.Tensor("LABEL", labels)]))
            start += n
        return responses
