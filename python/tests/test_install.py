"""The package under test is the installed wheel: the abi3 extension, not
the source tree's python/encore, and it works without the build tree's
libencore (linked in)."""

import os
import subprocess
import sys

import encore
from conftest import REPO


def test_imports_the_installed_wheel():
    here = os.path.realpath(os.path.dirname(encore.__file__))
    assert not here.startswith(os.path.realpath(os.path.join(REPO, "python"))), here
    ext = encore._encore.__file__
    assert ext.endswith(".abi3.so"), ext  # one module for CPython >= 3.9 (the stable ABI)


def test_extension_needs_no_libencore_so():
    out = subprocess.run(["ldd", encore._encore.__file__], capture_output=True, text=True, check=True).stdout
    assert "libencore" not in out and "not found" not in out, out
    assert "libpython" not in out, out  # abi3 modules do not link libpython


def test_exports_only_the_init_function():
    out = subprocess.run(["nm", "-D", "--defined-only", encore._encore.__file__], capture_output=True, text=True,
                         check=True).stdout
    exported = sorted(line.split()[-1] for line in out.splitlines() if " T " in line)
    assert exported == ["PyInit__encore"], exported


def test_version_and_build_info():
    assert encore.__version__ == "0.1.0"
    assert isinstance(encore.has_cuda, bool)
    assert encore._build_info.source_dir  # where the default models are looked for


def test_runs_in_a_fresh_interpreter():
    code = "import encore, sys; print(encore.Model(sys.argv[1]).n_labels)"
    out = subprocess.run([sys.executable, "-c", code, os.path.join(REPO, "tests/fixtures/models/tiny-bert-sst")],
                         capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "2"
