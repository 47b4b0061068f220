#!/bin/bash
# tests/integration/client_push_resume.sh - a chunked `wharf push` resumed
# across runs. A small python3 proxy in front of wharfd forwards everything,
# logs the body size of every PATCH it forwards, and holds (never forwards)
# the PATCHes whose numbers it is given, printing "stalled". Chunks are
# 1 MiB ($WHARF_PUSH_CHUNK) for a 6 MiB layer:
#   - kill -9 of a push held at its 4th chunk: the session is recorded under
#     ROOT/client/pushing/; the re-run asks the registry how far it got and
#     sends only the 3 MiB left; the result is the same image, the record
#     is gone;
#   - a recorded session the registry no longer has (DELETEd): the re-run
#     gets 404 for it and uploads the whole blob afresh, correctly;
#   - the same resume against docker-registry (CNCF Distribution);
#   - a registry with OCI-Chunk-Min-Length 2 MiB gets 2 MiB chunks.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
. "${BASH_SOURCE%/*}/client_lib.sh"
T=$WH_TMP
MIB=1048576

if ! command -v python3 >/dev/null; then
  skip "push resume" "python3 is not installed"
  wh_done
fi

# proxy.py UPSTREAM-PORT HOLD: HOLD is a comma list of PATCH numbers (1-based,
# over the proxy's life) to hold. Prints its port, then "PATCH N" per
# forwarded PATCH body and "stalled" per held one.
cat >"$T/proxy.py" <<'EOF'
import socket, sys, threading, time
up, hold = int(sys.argv[1]), {int(x) for x in sys.argv[2].split(",") if x}
count, lock = [0], threading.Lock()

def read_head(f):
    lines = [f.readline()]
    while lines[-1] not in (b"\r\n", b"\n", b""):
        lines.append(f.readline())
    return lines

def clen(lines):
    for h in lines:
        if h.lower().startswith(b"content-length:"):
            return int(h.split(b":")[1])
    return None

def handle(c):
    u = socket.create_connection(("127.0.0.1", up))
    f, uf = c.makefile("rb"), u.makefile("rb")
    try:
        while True:
            req = read_head(f)
            if req[0] == b"":
                return
            method = req[0].split()[0]
            n = clen(req) or 0
            if method == b"PATCH":
                with lock:
                    count[0] += 1
                    k = count[0]
                if k in hold:
                    print("stalled", flush=True)
                    time.sleep(3600)
                print("PATCH %d" % n, flush=True)
            u.sendall(b"".join(req) + (f.read(n) if n else b""))
            rh = read_head(uf)
            m = clen(rh)
            c.sendall(b"".join(rh))
            if method != b"HEAD" and m:
                c.sendall(uf.read(m))
    except OSError:
        pass
    finally:
        c.close()
        u.close()

s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(32)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
EOF

# proxy_start NAME UPSTREAM-PORT HOLD: sets PX_HOST, PX_LOG (its stdout after the port)
proxy_start() {
  local fifo=$T/$1.fifo port fd
  mkfifo "$fifo"
  python3 "$T/proxy.py" "$2" "$3" >"$fifo" 2>"$T/$1.err" &
  wh_track "$!"
  exec {fd}<"$fifo"
  rm -f "$fifo"
  IFS= read -r -t 20 -u "$fd" port
  PX_LOG=$T/$1.log
  cat <&"$fd" >"$PX_LOG" &
  wh_track "$!"
  exec {fd}<&-
  PX_HOST=127.0.0.1:$port
  [[ $port =~ ^[0-9]+$ ]]
}

# wait_for FILE PATTERN N: until FILE has N lines matching PATTERN (bounded, 60 s)
wait_for() {
  local i
  for ((i = 0; i < 1200; i++)); do
    [[ $(grep -c "$2" "$1" 2>/dev/null) -ge $3 ]] && return 0
    read -r -t 0.05 _ <>"$T/never.fifo" # a timed wait
  done
  return 1
}
mkfifo "$T/never.fifo"

patch_bytes() { awk '$1 == "PATCH" { s += $2 } END { print s + 0 }' "$PX_LOG"; }

wh_start || wh_done
wh_push_image src/app v1 $((6 * MIB))
expect "an image with a 6 MiB layer pushed with curl" 201
LD=$(wh_digest "$WH_LFILE")
R=$(wf_root)
SRC=$WH_HOST/src/app:v1
M1=$WH_MDIGEST
out=$(wf "$R" --quiet pull "$SRC" 2>"$T/err")
is "pulled into a local store" "$out" "$M1"
proxy_start px "$WH_PORT" 4,11 || wh_done
export WHARF_PUSH_CHUNK=$MIB

# ---- kill -9 mid-blob, then re-run ---------------------------------------------------------------
wf "$R" tag "$SRC" "$PX_HOST/dst/app:v1"
"$WHARF" --root "$R" push "$PX_HOST/dst/app:v1" >/dev/null 2>"$T/push1.err" &
WPID=$!
wh_track "$WPID"
wait_for "$PX_LOG" stalled 1
pass_if "the push is held at its 4th chunk" "$?" "$(cat "$PX_LOG")"
is "after 3 chunks of 1 MiB went through" "$(patch_bytes)" $((3 * MIB))
kill -KILL "$WPID"
wait "$WPID" 2>/dev/null
rec=$(ls "$R/client/pushing" 2>/dev/null | grep -v '^\.')
is "the upload session is recorded" "$(printf '%s\n' "$rec" | grep -c .)" 1
is "with the 3 MiB the registry acknowledged" "$(sed -n 5p "$R/client/pushing/$rec" 2>/dev/null)" $((3 * MIB))
cp "$PX_LOG" "$PX_LOG.before"
out=$(wf "$R" --quiet push "$PX_HOST/dst/app:v1" 2>"$T/err")
is "the re-run finishes" "$out" "$WH_MDIGEST"
before=$(awk '$1 == "PATCH" { s += $2 } END { print s + 0 }' "$PX_LOG.before")
is "it sent only the 3 MiB left" "$(($(patch_bytes) - before))" $((3 * MIB))
is "the blob on the registry is the layer" "$(wh_get_digest "/v2/dst/app/blobs/$LD")" "$LD"
is "the manifest too" "$(wh_get_digest "/v2/dst/app/manifests/v1" -H "Accept: $MT_OCI_MANIFEST")" "$WH_MDIGEST"
is "the record is gone" "$(ls "$R/client/pushing" | wc -l)" 0

# ---- a recorded session the registry forgot ---------------------------------------------------------
# (another layer: the first one would be mounted from dst/app)
wh_push_image src/app2 v1 $((6 * MIB))
expect "a second image with a 6 MiB layer pushed with curl" 201
LD2=$(wh_digest "$WH_LFILE")
M2=$WH_MDIGEST
out=$(wf "$R" --quiet pull "$WH_HOST/src/app2:v1" 2>"$T/err")
is "pulled into the local store" "$out" "$M2"
wf "$R" tag "$WH_HOST/src/app2:v1" "$PX_HOST/dst2/app:v1"
"$WHARF" --root "$R" push "$PX_HOST/dst2/app:v1" >/dev/null 2>"$T/push2.err" &
WPID=$!
wh_track "$WPID"
wait_for "$PX_LOG" stalled 2
is "a second push is held at its 4th chunk" "$(grep -c stalled "$PX_LOG")" 2
kill -KILL "$WPID"
wait "$WPID" 2>/dev/null
rec=$(ls "$R/client/pushing" 2>/dev/null | grep -v '^\.')
loc=$(sed -n 4p "$R/client/pushing/$rec" 2>/dev/null)
[[ $loc == http* ]] && loc=/${loc#*://*/}
wh_req DELETE "$loc"
expect "its session is cancelled on the registry" 204
cp "$PX_LOG" "$PX_LOG.before"
out=$(wf "$R" --quiet push "$PX_HOST/dst2/app:v1" 2>"$T/err")
is "the re-run finishes with a fresh upload" "$out" "$M2"
before=$(awk '$1 == "PATCH" { s += $2 } END { print s + 0 }' "$PX_LOG.before")
is "sending all 6 MiB" "$(($(patch_bytes) - before))" $((6 * MIB))
is "the blob on the registry is the layer" "$(wh_get_digest "/v2/dst2/app/blobs/$LD2")" "$LD2"
is "the record is gone" "$(ls "$R/client/pushing" | wc -l)" 0

# ---- the same against CNCF Distribution (its Location carries the upload state) ------------------------
if command -v docker-registry >/dev/null && dr_start; then
  DRPORT=${DR_HOST##*:}
  proxy_start pxdr "$DRPORT" 4 || wh_done
  wf "$R" tag "$SRC" "$PX_HOST/dst/app:v1"
  "$WHARF" --root "$R" push "$PX_HOST/dst/app:v1" >/dev/null 2>"$T/push3.err" &
  WPID=$!
  wh_track "$WPID"
  wait_for "$PX_LOG" stalled 1
  pass_if "a push to docker-registry is held at its 4th chunk" "$?" "$(cat "$PX_LOG")"
  kill -KILL "$WPID"
  wait "$WPID" 2>/dev/null
  cp "$PX_LOG" "$PX_LOG.before"
  out=$(wf "$R" --quiet push "$PX_HOST/dst/app:v1" 2>"$T/err")
  is "the re-run finishes" "$out" "$M1"
  before=$(awk '$1 == "PATCH" { s += $2 } END { print s + 0 }' "$PX_LOG.before")
  is "sending only the 3 MiB left" "$(($(patch_bytes) - before))" $((3 * MIB))
  is "docker-registry has the layer" "$(wh_get_digest "http://$DR_HOST/v2/dst/app/blobs/$LD")" "$LD"
  dr_stop
else
  skip "push resume against docker-registry" "docker-registry is not installed or did not start"
fi

# ---- OCI-Chunk-Min-Length ------------------------------------------------------------------------------
printf '{"limits": {"chunk_min_length": %d}}\n' $((2 * MIB)) >"$T/min.json"
wh_start -c "$T/min.json" || wh_done
proxy_start pxmin "$WH_PORT" "" || wh_done
wf "$R" tag "$SRC" "$PX_HOST/min/app:v1"
out=$(wf "$R" --quiet push "$PX_HOST/min/app:v1" 2>"$T/err")
is "push to a registry asking for 2 MiB chunks" "$out" "$M1"
is "gets three chunks of 2 MiB" "$(grep PATCH "$PX_LOG" | tr '\n' ' ')" \
  "PATCH $((2 * MIB)) PATCH $((2 * MIB)) PATCH $((2 * MIB)) "

wh_done
