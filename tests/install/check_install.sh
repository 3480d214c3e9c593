#!/usr/bin/env bash
# Install encore from BUILD_DIR into a fresh prefix, build tests/install's
# consumer against it the way a user would (MODE: pkg-config or cmake), and
# check that it classifies as the installed `encore classify` does.
#   check_install.sh BUILD_DIR SOURCE_DIR pkg-config|cmake
set -euo pipefail
build=$1 src=$2 mode=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(find "$prefix" -name 'libencore.so' -printf '%h\n' | head -n1)
[ -n "$libdir" ] || { echo "FAIL: no libencore.so under $prefix" >&2; exit 1; }
for f in include/encore.h bin/encore; do
    [ -e "$prefix/$f" ] || { echo "FAIL: $prefix/$f was not installed" >&2; exit 1; }
done
[ -f "$libdir/libencore.a" ] || { echo "FAIL: no libencore.a in $libdir" >&2; exit 1; }

consumers=()
case $mode in
pkg-config)
    export PKG_CONFIG_PATH=$libdir/pkgconfig
    flags=$(pkg-config --cflags --libs encore)
    echo "pkg-config --cflags --libs encore: $flags"
    cc -std=c11 -Wall -Wextra -Werror -o "$work/consumer" "$src/tests/install/consumer.c" $flags \
        -Wl,-rpath,"$libdir"
    consumers=("$work/consumer")
    ;;
cmake)
    cmake -S "$src/tests/install" -B "$work/consumer-build" -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" -DCMAKE_BUILD_RPATH="$libdir" >/dev/null
    cmake --build "$work/consumer-build" >/dev/null
    consumers=("$work/consumer-build/consumer_shared" "$work/consumer-build/consumer_static")
    ;;
*) echo "unknown mode $mode" >&2; exit 2 ;;
esac

model=$src/tests/fixtures/models/tiny-distilbert-sst
texts=("This movie is fantastic!" "The plot was dull and the acting was worse." "Not bad at all.")
for consumer in "${consumers[@]}"; do
    # The installed shared library, not the build tree's.
    # (ldd's output is read whole first: `ldd | grep -q` under pipefail fails
    # whenever grep exits before ldd has written everything)
    deps=$(ldd "$consumer")
    if [ "$consumer" != "${consumer%_static}" ]; then
        if grep -q 'libencore\.so' <<<"$deps"; then
            echo "FAIL: $consumer links libencore.so" >&2; exit 1
        fi
    elif ! grep -q "$libdir/libencore\.so" <<<"$deps"; then
        echo "FAIL: $consumer does not load $libdir/libencore.so:" >&2; echo "$deps" >&2; exit 1
    fi
    got=$("$consumer" "$model" "${texts[@]}")
    want=$(for t in "${texts[@]}"; do
        "$prefix/bin/encore" classify --model "$model" --quiet -- "$t" |
            sed -E 's/.*"label": "([^"]+)", "score": ([0-9.e+-]+).*/\1 \2/' |
            { read -r label score; printf '%s %.6f\n' "$label" "$score"; }
    done)
    echo "$(basename "$consumer"):"; echo "$got"
    if [ "$got" != "$want" ]; then
        echo "FAIL: $consumer disagrees with the installed encore classify:" >&2
        echo "$want" >&2
        exit 1
    fi
done
echo "OK: $mode"
