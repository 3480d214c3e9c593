#!/usr/bin/env bash
# bench/device-prep.sh: run HERE (a Debian 12 machine with apt and the repo),
# before bench/device-all.sh runs on the offline GPU host. Gathers what that
# host lacks into .devcarry/ and .devtriton/ (ignored by git through
# .git/info/exclude), which the device tool's `carry` sends along:
#   .devcarry/devroot.tar.xz   the Debian libraries encore builds against
#                              (cJSON, utf8proc, OpenBLAS, googletest, pkgconf),
#                              unpacked there into a local prefix
#   .devcarry/sst2-dev.tsv     the SST-2 dev set (from ../shared/data)
#   .devtriton/tritonserver.tar.xz  tritonserver 2.51.0 and the libraries it
#                              loads, from the nvidia-pytriton 0.7.0 wheel
# Then call the device tool:
#   run(command="bash bench/device-all.sh", carry=[".devcarry", ".devtriton"], timeout_s=600)
#
# The call carries the tracked files too, and all of it must stay under the
# tool's 64 MiB: when it would not, the tracked files that no device-side
# target reads (Python tests, NER/QA/hidden-state references, the default
# model's adapter, fuzz corpora, plots) are set aside in $aside until
#   bash bench/device-prep.sh --restore
# puts them back, byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."
aside=/tmp/encore-device-aside
if [ "${1:-}" = --restore ]; then
    [ -d "$aside" ] || { echo "device-prep: nothing set aside"; exit 0; }
    cp -a "$aside/." .
    rm -rf "$aside"
    git status --short | grep -v "^??" | head -5 || true
    echo "device-prep: restored the files set aside"
    exit 0
fi
carry=.devcarry
mkdir -p "$carry"
exclude=.git/info/exclude
for d in /.devcarry/ /.devtriton/; do grep -qx "$d" "$exclude" 2>/dev/null || echo "$d" >>"$exclude"; done

# Keep in step with scripts/setup.sh. Libraries the device-check targets link
# are carried for real; the CLI's and servers' own dependencies (libcurl,
# libcrypto, libmicrohttpd) are only needed at configure time, and
# device-check.sh gives pkg-config stubs for them instead. They travel as one
# tree (devroot.tar.xz) without OpenBLAS's 58 MB static library, which nothing
# links, so that the repository, this and the Triton server fit the carry.
packages=(libcjson1 libcjson-dev libutf8proc2 libutf8proc-dev libopenblas0-pthread libopenblas-pthread-dev
          libgfortran5 libquadmath0 libgtest-dev pkgconf pkgconf-bin libpkgconf3)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
triton=.devtriton
mkdir -p "$tmp/debs" "$tmp/root"
(cd "$tmp/debs" && { apt-get download "${packages[@]}" 2>/dev/null ||
    { apt-get update -qq && apt-get download "${packages[@]}"; }; })
for deb in "$tmp"/debs/*.deb; do dpkg -x "$deb" "$tmp/root"; done
ob=$tmp/root/usr/lib/x86_64-linux-gnu/openblas-pthread
rm -f "$ob"/libopenblasp-*.a "$ob"/libopenblas.a "$ob"/libblas.a "$ob"/liblapack.a \
    "$tmp"/root/usr/lib/x86_64-linux-gnu/libutf8proc.a
rm -rf "$tmp"/root/usr/share/doc "$tmp"/root/usr/share/man "$tmp"/root/usr/share/lintian
rm -rf "$carry/debs"
tar -cJf "$carry/devroot.tar.xz" -C "$tmp/root" .

# tritonserver 2.51.0 from the nvidia-pytriton wheel, for bench/device-triton.sh:
# the server and the libraries it loads (ldd's closure inside the wheel), not
# the wheel's Python runtime and backend stubs.
if [ ! -f "$triton/tritonserver.tar.xz" ]; then
    mkdir -p "$triton" "$tmp/wheel" "$tmp/tt/pytriton/tritonserver/bin" "$tmp/tt/nvidia_pytriton.libs"
    python3 -m pip download -q --no-deps --disable-pip-version-check -d "$tmp/wheel" nvidia-pytriton==0.7.0
    (cd "$tmp/wheel" && python3 -m zipfile -e nvidia_pytriton-*.whl x)
    bin=$tmp/wheel/x/pytriton/tritonserver/bin/tritonserver
    chmod +x "$bin"
    cp "$bin" "$tmp/tt/pytriton/tritonserver/bin/"
    ldd "$bin" | awk '{print $3}' | grep nvidia_pytriton.libs | xargs -r cp -t "$tmp/tt/nvidia_pytriton.libs/"
    tar -cJf "$triton/tritonserver.tar.xz" -C "$tmp/tt" .
fi

sst2=../shared/data/sst2/dev.tsv
if [ -f "$sst2" ]; then cp "$sst2" "$carry/sst2-dev.tsv"; else echo "device-prep: no $sst2; the SST-2 checks will skip" >&2; fi

# The default model does not travel: its encoder is 45 MB even in fp16, and
# the repository with the two trees above leaves about 25 MB. Its GPU test
# (the SST-2 dev set through ENCORE_E2E_MODEL_DIR) skips there and says so.
du -sh "$carry" "$triton"
tracked=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
total=$(( tracked + $(du -sb "$carry" | cut -f1) + $(du -sb "$triton" | cut -f1) ))
if [ "$total" -gt $((62 * 1048576)) ] && [ ! -d "$aside" ]; then
    mapfile -t light < <(git ls-files python/tests tests/reference-real tests/fuzz/corpus models/default/sst2-lora \
        'bench/*.png' 'tests/fixtures/reference/*.ner.json' 'tests/fixtures/reference/*.qa.json' \
        'tests/fixtures/reference/*.overflow.json' 'tests/fixtures/reference/*.hidden.safetensors')
    for f in "${light[@]}"; do
        mkdir -p "$aside/$(dirname "$f")"
        mv "$f" "$aside/$f"
    done
    total=$(( total - $(du -sb "$aside" | cut -f1) ))
    echo "device-prep: set ${#light[@]} tracked files that the GPU host does not read aside in $aside;" \
        "put them back after the call with: bash bench/device-prep.sh --restore"
fi
echo "device-prep: the call carries $((total / 1048576)) MiB with the tracked files (the device tool's limit is 64 MiB)"
