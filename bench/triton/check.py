"""Before timing: both models give the same labels, and scores within 1e-4
(encore's parity with transformers on the real model, README Tests), on the
benchmark's texts."""
import json
import sys

import numpy as np
import tritonclient.http as httpclient

url, data_file = sys.argv[1], sys.argv[2]
texts = [d["TEXT"]["content"][0] for d in json.load(open(data_file))["data"]][:64]
client = httpclient.InferenceServerClient(url)
out = {}
for model in ("encore", "python_transformers"):
    scores, labels = [], []
    for i in range(0, len(texts), 16):
        batch = np.array([[t.encode()] for t in texts[i:i + 16]], dtype=np.object_)
        inp = httpclient.InferInput("TEXT", list(batch.shape), "BYTES")
        inp.set_data_from_numpy(batch)
        res = client.infer(model, [inp])
        scores.append(res.as_numpy("SCORES"))
        labels.extend(res.as_numpy("LABEL").reshape(-1))
    out[model] = (np.concatenate(scores), labels)
(se, le), (sp, lp) = out["encore"], out["python_transformers"]
assert se.shape == sp.shape == (len(texts), 2) and np.isfinite(se).all() and np.isfinite(sp).all()
err = float(np.abs(se - sp).max())
same = sum(a == b for a, b in zip(le, lp))
print(f"check: {len(texts)} texts, same label on {same}, max |score difference| {err:.2e}")
if same != len(texts) or err > 1e-4:
    sys.exit("check: the two backends disagree")
