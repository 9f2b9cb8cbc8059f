#!/bin/sh
# Every symbol the shared library exports must start with zpk_ (and no
# internal zpk__ name may leak). Usage: check_exports.sh path/to/libzmqpack.so
set -eu
lib=$1
syms=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v -E '^(_init|_fini|_edata|_end|__bss_start)$' || true)
[ -n "$syms" ] || { echo "no exported symbols found in $lib"; exit 1; }
bad=$(printf '%s\n' "$syms" | grep -v -E '^zpk_' || true)
internal=$(printf '%s\n' "$syms" | grep -E '^zpk__' || true)
n=$(printf '%s\n' "$syms" | wc -l)
if [ -n "$bad" ] || [ -n "$internal" ]; then
  echo "exported symbols outside the zpk_ namespace:"
  printf '  %s\n' $bad $internal
  exit 1
fi
echo "ok: $n exported symbols, all zpk_"
