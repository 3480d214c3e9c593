#!/usr/bin/env bash
# The images' entry point.
#   (no arguments) or serve options    encore serve on 0.0.0.0:$PORT (8080) with the model
#                                      in $ENCORE_MODEL (/model, a mounted directory)
#   --model-id ID [--revision REV]     the same with a Hub model: encore pull ID first, into
#                                      $HF_HUB_CACHE (/data), then serve its snapshot; the
#                                      MODEL_ID and REVISION variables do the same (TEI's names)
#   serve [options]                    as with no command
#   ENCORE_DEVICE=cuda|cpu|auto        serve's --device, unless given (the CUDA image: cuda)
#   classify|embed|... [args]          that encore command, run as given
set -euo pipefail

case "${1:-}" in
    serve) shift ;;
    -*|"") ;;
    *) exec encore "$@" ;;
esac

model_id=${MODEL_ID:-}
revision=${REVISION:-}
args=()
have_host=0 have_port=0 have_model=0 have_device=0
while [ $# -gt 0 ]; do
    case "$1" in
        --model-id) model_id=${2:?--model-id needs a model id}; shift 2; continue ;;
        --model-id=*) model_id=${1#*=}; shift; continue ;;
        --revision) revision=${2:?--revision needs a revision}; shift 2; continue ;;
        --revision=*) revision=${1#*=}; shift; continue ;;
        --host|--host=*) have_host=1 ;;
        --port|--port=*) have_port=1 ;;
        --model|--model=*) have_model=1 ;;
        --device|--device=*) have_device=1 ;;
    esac
    args+=("$1")
    shift
done

if [ -n "$model_id" ] && [ "$have_model" = 0 ]; then
    pull=(encore pull "$model_id")
    [ -n "$revision" ] && pull+=(--revision "$revision")
    dir=$("${pull[@]}")
    args=(--model "$dir" "${args[@]}")
elif [ "$have_model" = 0 ] && [ ! -e "${ENCORE_MODEL:-/model}/config.json" ] &&
     [ ! -e "${ENCORE_MODEL:-/model}/adapter_config.json" ]; then
    echo "encore: no model: mount a model directory at ${ENCORE_MODEL:-/model}" \
         "(-v DIR:${ENCORE_MODEL:-/model}:ro) or pass --model-id ID" >&2
    exit 2
fi
# ENCORE_DEVICE (the CUDA image sets cuda) chooses the device unless --device does.
[ "$have_device" = 1 ] || [ -z "${ENCORE_DEVICE:-}" ] || args=(--device "$ENCORE_DEVICE" "${args[@]}")
[ "$have_host" = 1 ] || args=(--host 0.0.0.0 "${args[@]}")
[ "$have_port" = 1 ] || args=(--port "${PORT:-8080}" "${args[@]}")
exec encore serve "${args[@]}"
