#!/usr/bin/env bash
# bench/device-prep.sh: run HERE (a Debian 12 machine with apt and the repo),
# before bench/device-check.sh runs on the offline GPU host. Gathers what that
# host lacks into .devcarry/ (ignored by git through .git/info/exclude), which
# the device tool's `carry` then sends along:
#   .devcarry/debs/            Debian packages of the libraries encore builds
#                              against (cJSON, utf8proc, OpenBLAS, googletest,
#                              pkgconf), unpacked there into a local prefix
#   .devcarry/sst2-dev.tsv     the SST-2 dev set (from ../shared/data)
#   .devcarry/default-model/   the default model with fp16 weights, when it is
#                              assembled (scripts/run.sh does) and fits
# Then call the device tool:
#   run(command="bash bench/device-check.sh", carry=[".devcarry"], timeout_s=600)
set -euo pipefail
cd "$(dirname "$0")/.."
carry=.devcarry
mkdir -p "$carry/debs"
exclude=.git/info/exclude
grep -qx '/.devcarry/' "$exclude" 2>/dev/null || echo '/.devcarry/' >>"$exclude"

# Keep in step with scripts/setup.sh. Libraries the device-check targets link
# are carried for real; the CLI's and servers' own dependencies (libcurl,
# libcrypto, libmicrohttpd) are only needed at configure time, and
# device-check.sh gives pkg-config stubs for them instead.
packages=(libcjson1 libcjson-dev libutf8proc2 libutf8proc-dev libopenblas0-pthread libopenblas-pthread-dev
          libgfortran5 libquadmath0 libgtest-dev pkgconf pkgconf-bin libpkgconf3)
(cd "$carry/debs" && rm -f ./*.deb && { apt-get download "${packages[@]}" 2>/dev/null ||
    { apt-get update -qq && apt-get download "${packages[@]}"; }; })

sst2=../shared/data/sst2/dev.tsv
if [ -f "$sst2" ]; then cp "$sst2" "$carry/sst2-dev.tsv"; else echo "device-prep: no $sst2; the SST-2 checks will skip" >&2; fi

model=${ENCORE_DEFAULT_MODEL_DIR:-build/models/encore-sst2-minilm}
rm -rf "$carry/default-model"
if [ -f "$model/model.safetensors" ]; then
    python3 bench/cuda/to_f16.py "$model" "$carry/default-model"
    size=$(du -sm "$carry" | cut -f1)
    if [ "$size" -gt 58 ]; then
        echo "device-prep: $carry is ${size} MiB with the default model, over the carry limit; leaving it out" >&2
        rm -rf "$carry/default-model"
    fi
else
    echo "device-prep: no default model at $model (scripts/run.sh assembles it); its GPU test will skip" >&2
fi
du -sh "$carry"
