#!/bin/bash
# tests/integration/client_faults.sh - wharf pull when things go wrong:
# a registry serving wrong bytes (a blob corrupted in wharfd's store: clear
# error, exit 6, nothing half stored, no image listed); and, through a small
# fault-injecting proxy in front of wharfd (python3, written below): a
# connection dropped mid-blob (the pull resumes with Range and verifies), a
# Content-Length larger than the descriptor (refused up front), an endless
# chunked body (cut at the descriptor's size), and `kill -9` of a pull
# stalled mid-blob followed by a re-run that resumes the partial blob.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
. "${BASH_SOURCE%/*}/client_lib.sh"
wh_start || wh_done
T=$WH_TMP
H=$WH_HOST

# ---- an image pushed with curl -------------------------------------------------
wh_rand "$T/l1" 300000
wh_rand "$T/l2" 700000
wh_rand "$T/l3" 1000
wh_mk_config "$T/cfg" "$T/l1" "$T/l2" "$T/l3"
wh_mk_manifest "$T/man" "$T/cfg" "$T/l1" "$T/l2" "$T/l3"
wh_blob_push bad/app "$T/l1" && wh_blob_push bad/app "$T/l2" && wh_blob_push bad/app "$T/l3" &&
  wh_blob_push bad/app "$T/cfg" && wh_manifest_push bad/app v1 "$T/man"
expect "an image of three layers pushed with curl" 201
D=$(wh_digest "$T/man")
L2=$(wh_digest "$T/l2")

# ---- wrong bytes ---------------------------------------------------------------------
F=$WH_ROOT/blobs/sha256/${L2:7:2}/${L2#sha256:}
MODE=$(stat -c %a "$F")
cp "$F" "$T/l2.saved"
chmod u+w "$F"
printf 'XXXXXXXX' | dd of="$F" bs=1 seek=1000 conv=notrunc 2>/dev/null
R=$(wf_root)
wf "$R" pull "$H/bad/app:v1" >/dev/null 2>"$T/err"
is "pull of a corrupted layer exits 6" "$?" 6
is "with one clear line naming the layer" "$(tail -n 1 "$T/err")" \
  "wharf: pull \"$H/bad/app:v1\": layer $L2: digest mismatch"
is "no image is listed" "$(wf "$R" images --format json | jq length 2>&1)" 0
pass_if "the corrupted bytes are not in the local store" \
  "$([[ ! -e $R/blobs/sha256/${L2:7:2}/${L2#sha256:} ]]; echo $?)"
out=$(wh_fsck "$R")
pass_if "the local store is consistent (fsck)" "$?" "$out"
cp "$T/l2.saved" "$F"
chmod "$MODE" "$F"
out=$(wf "$R" --quiet pull "$H/bad/app:v1" 2>"$T/err")
is "once the registry is repaired the same pull succeeds" "$out" "$D"
is "and leaves no partial download record" "$(ls -A "$R/client/partial" 2>/dev/null | wc -l)" 0

if ! command -v python3 >/dev/null; then
  skip "fault-injecting proxy tests" "python3 is not installed"
  wh_done
fi

# ---- the proxy -----------------------------------------------------------------------------
# proxy.py UPSTREAM-PORT MODE LIMIT: forwards HTTP/1.1; the first GET of each
# blob larger than LIMIT is damaged by MODE: drop (close after LIMIT body
# bytes), stall (send LIMIT bytes, print "stalled", then hang), lie
# (Content-Length 5 bytes too big), endless (chunked, never ends); busy: the
# first GET of every blob gets 503 with Retry-After: 1.
# Prints its port first.
cat >"$T/proxy.py" <<'EOF'
import socket, sys, threading, time
up, mode, limit = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
seen, lock = set(), threading.Lock()

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

def damage(c, uf, rh, n):
    if mode == "drop":
        c.sendall(b"".join(rh) + uf.read(limit))
    elif mode == "stall":
        c.sendall(b"".join(rh) + uf.read(limit))
        print("stalled", flush=True)
        time.sleep(3600)
    elif mode == "lie":
        rh = [h if not h.lower().startswith(b"content-length:") else b"Content-Length: %d\r\n" % (n + 5) for h in rh]
        c.sendall(b"".join(rh) + uf.read(n) + b"12345")
    elif mode == "endless":
        rh = [h for h in rh if not h.lower().startswith(b"content-length:")]
        rh.insert(-1, b"Transfer-Encoding: chunked\r\n")
        c.sendall(b"".join(rh))
        while True:
            c.sendall(b"1000\r\n" + b"x" * 4096 + b"\r\n")

def handle(c):
    u = socket.create_connection(("127.0.0.1", up))
    f, uf = c.makefile("rb"), u.makefile("rb")
    try:
        while True:
            req = read_head(f)
            if req[0] == b"":
                return
            n = clen(req) or 0
            method, path = req[0].split()[0], req[0].split()[1]
            if mode == "busy" and method == b"GET" and b"/blobs/sha256:" in path:
                with lock:
                    first = path not in seen
                    seen.add(path)
                if first:
                    c.sendall(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n")
                    continue
            u.sendall(b"".join(req) + (f.read(n) if n else b""))
            rh = read_head(uf)
            n = clen(rh)
            hit = False
            with lock:
                if mode != "busy" and method == b"GET" and b"/blobs/sha256:" in path and n and n > limit and path not in seen:
                    seen.add(path)
                    hit = True
            if hit:
                damage(c, uf, rh, n)
                return
            c.sendall(b"".join(rh))
            if method != b"HEAD" and n:
                left = n
                while left:
                    b = uf.read(min(65536, left))
                    if not b:
                        return
                    c.sendall(b)
                    left -= len(b)
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

# proxy_start MODE LIMIT: sets PX_PID, PX_HOST, PX_FD (its stdout)
proxy_start() {
  local fifo=$T/proxy.$1.fifo port
  mkfifo "$fifo"
  python3 "$T/proxy.py" "$WH_PORT" "$1" "$2" >"$fifo" 2>"$T/proxy.$1.err" &
  PX_PID=$!
  wh_track "$PX_PID"
  exec {PX_FD}<"$fifo"
  rm -f "$fifo"
  IFS= read -r -t 20 -u "$PX_FD" port
  PX_HOST=127.0.0.1:$port
  [[ $port =~ ^[0-9]+$ ]]
}

proxy_stop() {
  kill -TERM "$PX_PID" 2>/dev/null
  wh_reap "$PX_PID" 5 >/dev/null 2>&1
  exec {PX_FD}<&-
}

# ---- a dropped connection: resumed within the run ----------------------------------------
if proxy_start drop 100000; then
  n_before=$(grep -cE "(status=| )206 " "$WH_LOG")
  R=$(wf_root)
  out=$(wf "$R" --quiet pull "$PX_HOST/bad/app:v1" 2>"$T/err")
  is "a pull whose blob connections drop midway still succeeds" "$out" "$D"
  n_after=$(grep -cE "(status=| )206 " "$WH_LOG")
  pass_if "it resumed with Range requests (206 answers)" "$([[ $((n_after - n_before)) -ge 2 ]]; echo $?)" \
    "206 answers: $((n_after - n_before))"
  out=$(wh_fsck "$R")
  pass_if "the result is verified and consistent (fsck)" "$?" "$out"
  proxy_stop
else
  not_ok "the drop proxy starts" "$(cat "$T/proxy.drop.err")"
fi

# ---- 503 with Retry-After -------------------------------------------------------------------
if proxy_start busy 0; then
  R=$(wf_root)
  t0=$(date +%s%N)
  out=$(wf "$R" --quiet pull "$PX_HOST/bad/app:v1" 2>"$T/err")
  t1=$(date +%s%N)
  is "a registry answering 503 + Retry-After is retried" "$out" "$D"
  pass_if "after waiting what Retry-After asked (>= 1 s)" "$([[ $(((t1 - t0) / 1000000)) -ge 950 ]]; echo $?)" \
    "took $(((t1 - t0) / 1000000)) ms"
  proxy_stop
else
  not_ok "the busy proxy starts" "$(cat "$T/proxy.busy.err")"
fi

# ---- a Content-Length larger than the descriptor --------------------------------------------
if proxy_start lie 100000; then
  R=$(wf_root)
  wf "$R" pull "$PX_HOST/bad/app:v1" >/dev/null 2>"$T/err"
  is "a Content-Length over the descriptor's size is refused (exit 6)" "$?" 6
  like "with a size mismatch message" "$(tail -n 1 "$T/err")" "layer sha256:[0-9a-f]{64}: size mismatch"
  is "no image is listed" "$(wf "$R" images --format json | jq length 2>&1)" 0
  proxy_stop
else
  not_ok "the lying proxy starts" "$(cat "$T/proxy.lie.err")"
fi

# ---- an endless body ----------------------------------------------------------------------------
if proxy_start endless 100000; then
  R=$(wf_root)
  wf "$R" pull "$PX_HOST/bad/app:v1" >/dev/null 2>"$T/err"
  is "an endless body is cut at the descriptor's size (exit 6)" "$?" 6
  like "with a size mismatch message" "$(tail -n 1 "$T/err")" "size mismatch"
  proxy_stop
else
  not_ok "the endless proxy starts" "$(cat "$T/proxy.endless.err")"
fi

# ---- kill -9 midway, then re-run ------------------------------------------------------------------
if proxy_start stall 400000; then
  R=$(wf_root)
  "$WHARF" --root "$R" pull "$PX_HOST/bad/app:v1" >/dev/null 2>"$T/err" &
  WPID=$!
  wh_track "$WPID"
  IFS= read -r -t 60 -u "$PX_FD" line
  is "the pull is stalled mid-blob" "$line" stalled
  # the bytes sent may still sit in socket buffers: wait (bounded) until
  # wharf has written them into its upload session
  for ((i = 0; i < 200; i++)); do
    [[ -n $(find "$R/uploads" -type f -size +390k 2>/dev/null) ]] && break
    read -r -t 0.05 -u "$PX_FD" _ # a timed wait; the proxy prints nothing more
  done
  pass_if "wharf wrote the bytes it got into an upload session" "$([[ $i -lt 200 ]]; echo $?)"
  kill -KILL "$WPID"
  wait "$WPID" 2>/dev/null
  is "no image is listed after kill -9" "$(wf "$R" images --format json | jq length 2>&1)" 0
  n=$(ls -A "$R/client/partial" 2>/dev/null | wc -l)
  pass_if "a partial download is recorded" "$([[ $n -ge 1 ]]; echo $?)" "records: $n"
  n_before=$(grep -cE "$L2( status=| )206 " "$WH_LOG")
  out=$(wf "$R" --quiet pull "$H/bad/app:v1" 2>"$T/err")
  is "the re-run finishes" "$out" "$D"
  is "it resumed the partial blob with Range" "$(($(grep -cE "$L2( status=| )206 " "$WH_LOG") - n_before))" 1
  is "and left no partial record" "$(ls -A "$R/client/partial" 2>/dev/null | wc -l)" 0
  # kill -9 may land between a finished blob's rename and its row update,
  # or in the middle of a small blob's temp file: storage's documented
  # crash residue (an upload row without its file, a stray uploads/tmp-*
  # file), which fsck --repair clears; nothing else may be wrong
  out=$(wh_fsck "$R" --repair)
  bad=$(printf '%s\n' "$out" | grep -v '^fsck:' | grep -v ': file missing' | grep -vc '^stray file uploads/')
  is "after kill -9 fsck finds nothing but crash residue of uploads" "$bad" 0 || diag "$out"
  out=$(wh_fsck "$R")
  pass_if "and the store is consistent once repaired (fsck)" "$?" "$out"
  proxy_stop
else
  not_ok "the stalling proxy starts" "$(cat "$T/proxy.stall.err")"
fi

wh_done
