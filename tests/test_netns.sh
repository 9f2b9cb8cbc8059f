#!/bin/bash
# Two "hosts" (network namespaces joined by a veth pair, addresses in a
# private /30 that exists only inside them) stream arrays to each other with
# the built zpk tool: `zpk pub --npy` in one, `zpk cat` in the other. Every
# array's dtype, shape, order, size and min/max/mean are checked against
# numpy's values for the files that were sent. Runs PUSH/PULL raw and
# compressed, PUB/SUB, and CURVE (a listed client gets everything, a
# stranger nothing).
#
# Skipped (exit 77, meson's skip, with one line that says why) when not
# root, without `ip` or the zpk tool, or when any step of making the two
# hosts is refused (containers without CAP_SYS_ADMIN / CAP_NET_ADMIN,
# chroots). The namespaces are always removed (trap), and every command
# runs under `timeout`.
#
# Environment: ZPK_TOOL (path of the built zpk, set by tests/meson.build).
set -u

PY=/usr/bin/python3
ZPK=${ZPK_TOOL:-}
ID="zpk$$"
NS_A="${ID}a"
NS_B="${ID}b"
VETH_A="${ID}va"
VETH_B="${ID}vb"
ADDR_A=10.254.77.1
ADDR_B=10.254.77.2
TMP=""
CAT_EXTRA=()

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

cleanup() {
    # Deleting a namespace also deletes the veth end inside it (and its peer).
    ip netns del "$NS_A" 2>/dev/null
    ip netns del "$NS_B" 2>/dev/null
    ip link del "$VETH_A" 2>/dev/null
    [ -n "$TMP" ] && rm -rf "$TMP"
    return 0
}

[ -n "$ZPK" ] && [ -x "$ZPK" ] || skip "the zpk tool is not built (ZPK_TOOL='$ZPK')"
[ "${EUID:-1}" = 0 ] || skip "needs root for ip netns (running as uid ${EUID:-?})"
command -v ip >/dev/null 2>&1 || skip "'ip' (iproute2) is not installed"
command -v timeout >/dev/null 2>&1 || skip "'timeout' (coreutils) is missing"
"$PY" -c 'import numpy' 2>/dev/null || skip "$PY has no numpy"

trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# Every step of the set-up can be refused by a machine (a container without
# CAP_SYS_ADMIN / CAP_NET_ADMIN, a chroot without /sys, a kernel without
# veth): each refusal is a skip that quotes the command's own error. Once
# the two hosts exist, any failure is a failure.
setup() { # WHAT COMMAND...: runs COMMAND; on failure skips, saying WHAT and why
    local what=$1 out
    shift
    out=$(timeout 10 "$@" 2>&1) || skip "cannot $what here: '$*' said: ${out//$'\n'/ }"
}
setup "create network namespaces" ip netns add "$NS_A"
setup "create a second network namespace" ip netns add "$NS_B"
setup "run a command inside a network namespace" ip netns exec "$NS_A" true
setup "create a veth pair" ip link add "$VETH_A" type veth peer name "$VETH_B"
setup "move a veth end into a namespace" ip link set "$VETH_A" netns "$NS_A"
setup "move a veth end into a namespace" ip link set "$VETH_B" netns "$NS_B"
setup "give a veth end an address" ip -n "$NS_A" addr add "$ADDR_A/30" dev "$VETH_A"
setup "give a veth end an address" ip -n "$NS_B" addr add "$ADDR_B/30" dev "$VETH_B"
for ns in "$NS_A" "$NS_B"; do
    setup "bring up loopback in a namespace" ip -n "$ns" link set lo up
done
setup "bring up a veth end" ip -n "$NS_A" link set "$VETH_A" up
setup "bring up a veth end" ip -n "$NS_B" link set "$VETH_B" up
echo "hosts: $NS_A ($ADDR_A) <-> $NS_B ($ADDR_B) over $VETH_A/$VETH_B"

# The link may need a moment to come up: wait (bounded) until A reaches B.
up=0
for _ in $(seq 1 50); do
    if timeout 2 ip netns exec "$NS_A" "$PY" - "$ADDR_B" <<'EOF' 2>/dev/null; then up=1; break; fi
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(0.2)
try:
    s.connect((sys.argv[1], 9))   # a refusal (RST) proves the route works
except ConnectionRefusedError:
    sys.exit(0)
except OSError:
    sys.exit(1)
sys.exit(0)
EOF
    sleep 0.1
done
[ "$up" = 1 ] || fail "the veth link between the namespaces never came up"

TMP=$(mktemp -d /tmp/zpk-netns-XXXXXX)
# The arrays: several dtypes, orders and sizes (one of 8 MiB); expected.jsonl
# holds what zpk cat must print for each (checked below).
"$PY" - "$TMP" <<'EOF' || fail "could not write the .npy files"
import json, sys
import numpy as np
d = sys.argv[1]
rng = np.random.default_rng(8)
arrays = [
    np.arange(1000, dtype='<f8') * 0.5,
    rng.integers(0, 65535, size=(480, 640), dtype='<u2'),
    np.asfortranarray(rng.standard_normal((64, 33)).astype('<f4')),
    rng.integers(-2**31, 2**31 - 1, size=100000, dtype='<i4'),
    np.linspace(-1, 1, 1 << 20).astype('>f8'),              # 8 MiB, big-endian
    np.zeros((0, 5), dtype='<i2'),                            # empty
    np.array(7, dtype='<i8'),                                 # 0-d
    rng.integers(0, 255, size=(3, 4, 5, 6), dtype='u1'),
]
with open(f"{d}/expected.jsonl", "w") as out:
    for i, a in enumerate(arrays):
        np.save(f"{d}/a{i}.npy", a)
        e = {"dtype": a.dtype.str, "shape": list(a.shape),
             "order": "F" if (a.ndim > 1 and np.isfortran(a)) else "C", "raw": a.nbytes}
        if a.size:
            v = a.astype(np.float64)
            e.update(min=float(v.min()), max=float(v.max()), mean=float(v.mean()))
        out.write(json.dumps(e) + "\n")
EOF
NARR=$(wc -l < "$TMP/expected.jsonl")
FILES=()
for i in $(seq 0 $((NARR - 1))); do FILES+=("$TMP/a$i.npy"); done

# check OUT ROUNDS: every line matches the expected array, ROUNDS times over.
check() {
    "$PY" - "$TMP/expected.jsonl" "$1" "$2" <<'EOF'
import json, math, sys
exp = [json.loads(l) for l in open(sys.argv[1])]
got = [json.loads(l) for l in open(sys.argv[2])]
rounds = int(sys.argv[3])
if len(got) != len(exp) * rounds:
    sys.exit(f"{len(got)} messages arrived, {len(exp) * rounds} were sent")
for i, g in enumerate(got):
    e = exp[i % len(exp)]
    if g.get("kind") != "array":
        sys.exit(f"message {i}: not an array: {g}")
    for k in ("dtype", "shape", "order", "raw"):
        if k == "order" and len(e["shape"]) < 2:
            continue
        if g.get(k) != e[k]:
            sys.exit(f"message {i}: {k} is {g.get(k)!r}, expected {e[k]!r}")
    for k in ("min", "max", "mean"):
        if k in e and not math.isclose(g[k], e[k], rel_tol=1e-9, abs_tol=1e-9):
            sys.exit(f"message {i}: {k} is {g[k]!r}, expected {e[k]!r}")
print(f"ok: {len(got)} arrays")
EOF
}

# bound ERRFILE PID: the endpoint a zpk cat started with --bind tcp://ADDR:*
# printed on stderr ("zpk cat: bound to tcp://ADDR:PORT"); waits for it
# (bounded), and prints nothing if the process exited first.
bound() {
    local line
    for _ in $(seq 1 100); do
        line=$(grep -m1 '^zpk cat: bound to ' "$1" 2>/dev/null) && { echo "${line##* }"; return 0; }
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# run NAME CAT_TYPE PUB_TYPE ROUNDS [pub options...]: zpk cat binds in B,
# zpk pub connects from A and sends every file ROUNDS times. CAT_EXTRA (an
# array) adds options to zpk cat.
run() {
    local name=$1 ctype=$2 ptype=$3 rounds=$4
    shift 4
    local n=$((NARR * rounds))
    timeout 60 ip netns exec "$NS_B" "$ZPK" cat -t "$ctype" --bind -n "$n" --timeout 20000 \
        ${CAT_EXTRA[@]+"${CAT_EXTRA[@]}"} "tcp://$ADDR_B:*" \
        > "$TMP/$name.out" 2> "$TMP/$name.err" &
    local cat_pid=$!
    local ep
    ep=$(bound "$TMP/$name.err" "$cat_pid") || {
        echo "$name: zpk cat did not bind:"; cat "$TMP/$name.err"; return 1; }
    local all=()
    for _ in $(seq 1 "$rounds"); do all+=("${FILES[@]}"); done
    timeout 60 ip netns exec "$NS_A" "$ZPK" pub -t "$ptype" --timeout 10000 "$@" "$ep" --npy "${all[@]}" \
        > "$TMP/$name.pub.out" 2> "$TMP/$name.pub.err"
    local prc=$?
    wait "$cat_pid"
    local crc=$?
    if [ $prc != 0 ] || [ $crc != 0 ]; then
        echo "$name: zpk pub exited $prc, zpk cat exited $crc"
        cat "$TMP/$name.pub.err" "$TMP/$name.err"
        return 1
    fi
    local res
    res=$(check "$TMP/$name.out" "$rounds") || { echo "$name: $res"; return 1; }
    echo "$name: $res from $NS_A to $NS_B over $ep"
}

rc=0
run push-pull-raw pull push 3 || rc=1
run push-pull-zlib pull push 2 --codec zlib:6 || rc=1
if "$ZPK" pub --help 2>&1 | grep -q blosc; then
    run push-pull-blosc pull push 1 --codec blosc:lz4:5:shuffle || rc=1
fi
run pub-sub sub pub 1 --topic sensors || rc=1

# CURVE between the hosts: key files in CZMQ's zcert format, written here
# with pyzmq's keypair. The receiver in B is the server and admits only the
# client key; a sender with another keypair gets nowhere (both time out).
if "$PY" -c 'import zmq, sys; sys.exit(0 if zmq.has("curve") else 1)' 2>/dev/null \
   && "$ZPK" pub --help 2>&1 | grep -q -- --curve-secret; then
    "$PY" - "$TMP" <<'EOF2' || fail "could not write key files"
import sys, zmq
d = sys.argv[1]
for name in ("server", "client", "stranger"):
    pub, sec = (k.decode() for k in zmq.curve_keypair())
    with open(f"{d}/{name}.key_secret", "w") as f:
        f.write(f'#   ZeroMQ CURVE **Secret** Certificate\nmetadata\ncurve\n'
                f'    public-key = "{pub}"\n    secret-key = "{sec}"\n')
    with open(f"{d}/{name}.key", "w") as f:
        f.write(f'#   ZeroMQ CURVE Public Certificate\nmetadata\ncurve\n    public-key = "{pub}"\n')
EOF2
    CURVE_CAT=(--curve-secret "$TMP/server.key_secret" --curve-allow "$TMP/client.key")
    CAT_EXTRA=("${CURVE_CAT[@]}")
    run curve-push-pull pull push 1 \
        --curve-server-key "$TMP/server.key" --curve-secret "$TMP/client.key_secret" || rc=1
    CAT_EXTRA=()
    # The stranger: knows the server's public key, is not on the list.
    timeout 30 ip netns exec "$NS_B" "$ZPK" cat -t pull --bind -n 1 --timeout 2000 \
        "${CURVE_CAT[@]}" "tcp://$ADDR_B:*" > "$TMP/stranger.out" 2> "$TMP/stranger.err" &
    cat_pid=$!
    ep=$(bound "$TMP/stranger.err" "$cat_pid") || fail "zpk cat did not bind: $(cat "$TMP/stranger.err")"
    timeout 30 ip netns exec "$NS_A" "$ZPK" pub -t push --timeout 1000 \
        --curve-server-key "$TMP/server.key" --curve-secret "$TMP/stranger.key_secret" \
        "$ep" --npy "${FILES[0]}" 2>/dev/null
    prc=$?
    wait "$cat_pid"
    crc=$?
    if [ $prc = 3 ] && [ $crc = 3 ] && [ ! -s "$TMP/stranger.out" ]; then
        echo "curve-stranger: refused (pub and cat timed out, nothing received)"
    else
        echo "curve-stranger: pub exited $prc, cat exited $crc (expected 3 and 3), output:"
        cat "$TMP/stranger.out"
        rc=1
    fi
else
    echo "curve: skipped (no CURVE in libzmq, or zpk without --curve-secret)"
fi
exit $rc
