"""One pipeline / encoder called from 8 threads at once gives exactly the
serial results; calls release the GIL while they run; a Session used by two
threads at once refuses rather than races."""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import encore
from conftest import SST2, model_dir

N_THREADS = 8


def _sst2_dev(n):
    path = os.path.join(SST2, "dev.tsv")
    if not os.path.isfile(path):
        pytest.fail("SST-2 dev is missing at %s (see ../shared/data/sst2/SOURCE.md)" % path)
    with open(path, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t")[0] for line in f][1:]
    assert len(rows) == 872
    return rows[:n]


def test_pipeline_from_8_threads_equals_serial():
    texts = _sst2_dev(400)
    pipe = encore.pipeline("text-classification", model=model_dir("encore-sst2-minilm"), threads=1, batch_size=8)
    serial = [pipe(t, top_k=None) for t in texts]
    chunks = [texts[i::N_THREADS] for i in range(N_THREADS)]
    barrier = threading.Barrier(N_THREADS)

    def work(chunk):
        barrier.wait()  # all 8 start together
        return pipe(chunk, top_k=None)

    with ThreadPoolExecutor(N_THREADS) as ex:
        parallel = list(ex.map(work, chunks))
    for i in range(N_THREADS):
        assert parallel[i] == serial[i::N_THREADS]  # exactly: a text's result does not depend on its batch
    assert len(pipe._pool._idle) >= 2, "several sessions ran at once"


def test_encoder_from_8_threads_equals_serial():
    texts = _sst2_dev(200)
    enc = encore.SentenceEncoder(model_dir("all-minilm-l6-v2"), threads=1)
    serial = enc.encode(texts, batch_size=16)
    with ThreadPoolExecutor(N_THREADS) as ex:
        parallel = list(ex.map(lambda i: enc.encode(texts[i::N_THREADS], batch_size=5), range(N_THREADS)))
    for i in range(N_THREADS):
        np.testing.assert_array_equal(parallel[i], serial[i::N_THREADS])


def test_gil_released_during_the_forward_pass():
    """While one thread runs a long call, the main thread keeps running
    Python: were the GIL held, it would stall for the whole call."""
    texts = _sst2_dev(600)
    session = encore.Model(model_dir("encore-sst2-minilm")).session(threads=1)
    session.scores(texts[:8])  # warm up
    done = threading.Event()
    span = {}

    def work():
        t0 = time.perf_counter()
        session.scores(texts)
        span["call"] = time.perf_counter() - t0
        done.set()

    ticks = []
    t = threading.Thread(target=work)
    t.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
        time.sleep(0.002)
    t.join()
    gaps = np.diff(ticks) if len(ticks) > 1 else np.array([span["call"]])
    assert span["call"] > 0.3, "the call must be long enough to tell (%.3f s)" % span["call"]
    # With the GIL held, the loop could not tick during the call: one gap as
    # long as the call. Released, the main thread ticks throughout.
    assert len(ticks) > 20 and gaps.max() < span["call"] / 3, (len(ticks), gaps.max(), span["call"])


def test_gil_released_during_tokenization_and_load():
    m = encore.Model(model_dir("encore-sst2-minilm"))

    def tokenize_in_a_thread(reps):
        """(seconds the call took, the main thread's ticks meanwhile)"""
        text = "a long text to tokenize " * reps
        done = threading.Event()
        ticks = []
        t = threading.Thread(target=lambda: (m.tokenize(text, truncation=True), done.set()))
        t0 = time.perf_counter()
        t.start()
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)
        t.join()
        return time.perf_counter() - t0, ticks

    # A text long enough for the call to take a while on this machine.
    for reps in (100000, 400000, 1600000):
        call, ticks = tokenize_in_a_thread(reps)
        if call > 0.2:
            break
    assert call > 0.2, "the call must be long enough to tell (%.3f s)" % call
    assert len(ticks) > 10 and np.diff(ticks).max() < call / 3


def test_one_session_two_threads_refuses():
    session = encore.Model(model_dir("encore-sst2-minilm")).session(threads=1)
    texts = _sst2_dev(400)
    errors, started = [], threading.Event()

    def long_call():
        started.set()
        session.scores(texts)

    t = threading.Thread(target=long_call)
    t.start()
    started.wait()
    deadline = time.time() + 5
    while time.time() < deadline and not errors:
        try:
            session.scores(["x"])
        except encore.InputError as e:
            errors.append(e)
        time.sleep(0.001)
    t.join()
    assert errors and "another thread" in str(errors[0])


def test_every_call_of_a_busy_session_refuses():
    """Each call that releases the GIL (scores, hidden_states, and the four
    pipeline calls) refuses while another thread's call holds the session,
    and the session serves again afterwards."""
    session = encore.Model(model_dir("encore-sst2-minilm")).session(threads=1)
    texts = _sst2_dev(200)
    stop, running = threading.Event(), threading.Event()

    def long_calls():
        while not stop.is_set():
            running.set()
            session.scores(texts)

    calls = {
        "scores": lambda: session.scores(["x"]),
        "hidden_states": lambda: session.hidden_states(["x"]),
        "fill_mask": lambda: session.fill_mask("a [MASK] film"),
        "zero_shot": lambda: session.zero_shot("a film", ["good", "bad"]),
        "token_classify": lambda: session.token_classify("a film"),
        "question_answer": lambda: session.question_answer("what?", "a film"),
    }
    refused = {}
    t = threading.Thread(target=long_calls)
    t.start()
    try:
        running.wait()
        deadline = time.time() + 20
        while time.time() < deadline and len(refused) < len(calls):
            for name, call in calls.items():
                if name in refused:
                    continue
                try:
                    call()
                except encore.Error as e:  # busy, or (between two long calls) this model has no such head
                    if "another thread" in str(e):
                        refused[name] = str(e)
                time.sleep(0.001)
    finally:
        stop.set()
        t.join()
    assert sorted(refused) == sorted(calls), "not refused: %s" % sorted(set(calls) - set(refused))
    assert session.scores(["a fine film"]).shape == (1, 2)
    # The pipeline calls of a model without their heads say so (not busy).
    with pytest.raises(encore.Error, match="(?i)mask|head|masked"):
        session.fill_mask("a [MASK] film")

