#!/usr/bin/env bash
# Run a test binary with the CPU path capped at ISA (ENCORE_CPU_ISA), so that
# the end-to-end tests cover every path this CPU has, not only the widest.
# A path the CPU lacks is skipped (exit 77), naming the missing feature.
#   run_with_isa.sh portable|avx2|avx512 BINARY [ARGS...]
set -euo pipefail
isa=$1
shift
flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
need=()
case $isa in
portable) ;;
avx2) need=(avx2 fma) ;;
avx512) need=(avx2 fma avx512f) ;;
*) echo "run_with_isa: unknown path $isa" >&2; exit 2 ;;
esac
for f in "${need[@]}"; do
    if ! grep -qw "$f" <<<"$flags"; then
        echo "SKIPPED: this CPU lacks $f, so the $isa path cannot run here"
        exit 77
    fi
done
ENCORE_CPU_ISA=$isa exec "$@"
