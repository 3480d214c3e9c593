# bench/device-env.sh: sourced by bench/device-check.sh and
# bench/device-triton.sh on the offline GPU host. Points the compiler, the
# linker and the loader at the carried Debian libraries unpacked under
# $ENCORE_DEVROOT, and puts the host's cuBLAS of encore's CUDA major version
# on the loader's path: encore opens it with dlopen (src/cuda/device_blas.c),
# and a host that keeps it outside the loader's cache (a toolkit in
# /usr/local/cuda, a PyTorch wheel's nvidia/cu13/lib) would otherwise leave
# every GPU test skipping with "cannot load cuBLAS".
ENCORE_DEVROOT=${ENCORE_DEVROOT:-/tmp/encore-devroot}
_lib=$ENCORE_DEVROOT/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=$_lib:$_lib/openblas-pthread:${LD_LIBRARY_PATH:-}
export LIBRARY_PATH=$_lib:$_lib/openblas-pthread:${LIBRARY_PATH:-}
export CPATH=$ENCORE_DEVROOT/usr/include:$ENCORE_DEVROOT/usr/include/x86_64-linux-gnu:${CPATH:-}
export PKG_CONFIG_LIBDIR=$_lib/pkgconfig:$_lib/openblas-pthread/pkgconfig:$ENCORE_DEVROOT/usr/share/pkgconfig:$ENCORE_DEVROOT/pc-stubs
export PKG_CONFIG_SYSROOT_DIR=$ENCORE_DEVROOT
export PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 PKG_CONFIG_ALLOW_SYSTEM_LIBS=1

# cuBLAS: the loader's cache first, then the toolkit beside nvcc, then any
# Python wheel's copy. The major version is nvcc's (the runtime encore links).
_cuda_major=$(nvcc --version 2>/dev/null | sed -n 's/.*release \([0-9]*\)\..*/\1/p' | head -1)
_cuda_major=${_cuda_major:-13}
ENCORE_CUBLAS=""
if ! ldconfig -p 2>/dev/null | grep -q "libcublas.so.$_cuda_major "; then
    _nvcc_dir=$(dirname "$(command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)")
    for _d in "$_nvcc_dir/../lib64" "$_nvcc_dir/../lib" "$_nvcc_dir/../targets/x86_64-linux/lib" \
        /usr/local/cuda/lib64 /usr/local/cuda-"$_cuda_major"*/lib64; do
        if [ -e "$_d/libcublas.so.$_cuda_major" ]; then
            ENCORE_CUBLAS=$(cd "$_d" && pwd)/libcublas.so.$_cuda_major
            break
        fi
    done
    if [ -z "$ENCORE_CUBLAS" ]; then
        ENCORE_CUBLAS=$(find /usr/local /opt /usr/lib -name "libcublas.so.$_cuda_major" 2>/dev/null | head -1)
    fi
    [ -n "$ENCORE_CUBLAS" ] && export LD_LIBRARY_PATH=$(dirname "$ENCORE_CUBLAS"):$LD_LIBRARY_PATH
else
    ENCORE_CUBLAS=$(ldconfig -p | grep -m1 "libcublas.so.$_cuda_major " | sed 's/.*=> //')
fi
export ENCORE_CUBLAS
unset _lib _cuda_major _nvcc_dir _d
