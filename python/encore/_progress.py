"""Progress bars for long calls: tqdm when it is installed, else a plain
line on stderr that counts up."""

import sys
import time


def _plain(iterable, desc, unit):
    items = list(iterable)
    total = len(items)
    t0 = time.monotonic()
    last = 0.0
    for i, x in enumerate(items, 1):
        yield x
        now = time.monotonic()
        if now - last >= 0.5 or i == total:
            last = now
            sys.stderr.write("\r%s: %d/%d %s (%.1f s)" % (desc, i, total, unit, now - t0))
            sys.stderr.flush()
    sys.stderr.write("\n")


def progress(iterable, show, desc="Batches", unit="it"):
    """iterable unchanged when show is falsy, else wrapped in a progress bar."""
    if not show:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _plain(iterable, desc, unit)
    return tqdm(iterable, desc=desc, unit=unit)
