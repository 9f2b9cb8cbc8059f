#!/bin/sh
# Each public header must compile on its own, included twice, in strict C11
# (dav1d's header test). Usage: check_headers.sh SRC_INCLUDE BUILD_INCLUDE HEADER...
set -eu
src=$1; build=$2; shift 2
cc=${CC:-cc}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
for h in "$@"; do
  printf '#include "zmqpack/%s.h"\n#include "zmqpack/%s.h"\nint main(void) { return 0; }\n' "$h" "$h" > "$tmp/t.c"
  if "$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -I"$src" -I"$build" "$tmp/t.c" 2> "$tmp/err"; then
    echo "ok: zmqpack/$h.h"
  else
    echo "FAIL: zmqpack/$h.h does not compile alone:"; cat "$tmp/err"; fail=1
  fi
done
exit $fail
