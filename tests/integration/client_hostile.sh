#!/bin/bash
# tests/integration/client_hostile.sh - wharf pull against a registry that
# lies (a small python3 fake written below), issue 3's "bad input":
#   - a manifest that is also an index (CVE-2021-41190) is refused;
#   - a manifest over 4 MiB, and one that never ends, are cut off;
#   - a descriptor digest that could climb out of the store
#     ("sha256:../../..") or names an unknown algorithm is refused before
#     any request or path is made with it;
#   - a malformed Docker-Content-Digest header, one naming other bytes, and
#     bytes that are not the digest asked for: clear errors (exit 6 for a
#     mismatch);
#   - a blob answer whose size is not the descriptor's: refused.
# Every time: one error line, nothing listed by `wharf images`, no file
# written outside the store, the local store consistent (fsck).
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
. "${BASH_SOURCE%/*}/client_lib.sh"
T=$WH_TMP

if ! command -v python3 >/dev/null; then
  skip "hostile registry" "python3 is not installed"
  wh_done
fi

# a well-formed image, the fake serves it and broken variants of it
wh_rand "$T/layer" 5000
wh_mk_config "$T/cfg" "$T/layer"
wh_mk_manifest "$T/good" "$T/cfg" "$T/layer"
GOOD=$(wh_digest "$T/good")
OTHER=$(wh_digest_str "other bytes")
jq -c '. + {manifests: []}' "$T/good" >"$T/amb"
jq -c '.layers[0].digest = "sha256:../../../../../escape"' "$T/good" >"$T/climb"
jq -c '.layers[0].digest = "md5:d41d8cd98f00b204e9800998ecf8427e"' "$T/good" >"$T/md5"
jq -c '.layers[0].size = 4000' "$T/good" >"$T/short"

cat >"$T/fake.py" <<'EOF'
import http.server, sys, os
d = sys.argv[1]
def f(n): return open(os.path.join(d, n), "rb").read()
OCI = "application/vnd.oci.image.manifest.v1+json"
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def send(self, code, body, ctype=OCI, extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra: self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD": self.wfile.write(body)
    def do_GET(self):
        p = self.path.split("/")
        if self.path == "/v2/":
            return self.send(200, b"{}", "application/json")
        if len(p) < 6:
            return self.send(404, b"")
        name, kind, ref = p[2], p[4], p[5]
        if kind == "blobs":
            for b in ("cfg", "layer"):
                if ref == open(os.path.join(d, b + ".digest")).read().strip():
                    return self.send(200, f(b), "application/octet-stream")
            return self.send(404, b"")
        if name == "big":
            return self.send(200, b" " * (5 * 1024 * 1024) + f("good"))
        if name == "endless":
            self.send_response(200)
            self.send_header("Content-Type", OCI)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                while True: self.wfile.write(b"1000\r\n" + b" " * 4096 + b"\r\n")
            except OSError: return
        if name == "badheader":
            return self.send(200, f("good"), OCI, [("Docker-Content-Digest", "sha256:zz/../../x")])
        if name == "liarheader":
            return self.send(200, f("good"), OCI, [("Docker-Content-Digest", open(os.path.join(d, "other.digest")).read().strip())])
        if name == "bydigest":
            return self.send(200, f("good"))
        return self.send(200, f(name))
    do_HEAD = do_GET
http.server.ThreadingHTTPServer.daemon_threads = True
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
EOF
wh_digest "$T/cfg" >"$T/cfg.digest"
wh_digest "$T/layer" >"$T/layer.digest"
printf '%s\n' "$OTHER" >"$T/other.digest"
mkfifo "$T/fake.fifo"
python3 "$T/fake.py" "$T" >"$T/fake.fifo" 2>"$T/fake.err" &
wh_track "$!"
exec {FD}<"$T/fake.fifo"
IFS= read -r -t 20 -u "$FD" PORT
exec {FD}<&-
F=127.0.0.1:$PORT
pass_if "the fake registry starts" "$([[ $PORT =~ ^[0-9]+$ ]]; echo $?)" "$(cat "$T/fake.err")"

R=$(wf_root)
out=$(wf "$R" --quiet pull "$F/good/app:v1" 2>"$T/err")
is "the fake's good image pulls (the fake works)" "$out" "$GOOD"
wf "$R" rmi "$F/good/app:v1" >/dev/null 2>&1

# bad NAME STATUS REGEX DESCRIPTION [REFERENCE]: a pull of F/NAME/app:REFERENCE fails as said
bad() {
  local r
  r=$(wf_root)
  wf "$r" pull "$F/$1/app:${5:-v1}" >/dev/null 2>"$T/err"
  like "$4" "$?:$(tail -n 1 "$T/err")" "^$2:wharf: pull \"[^\"]*\": .*$3"
  is "  ... and one error line" "$(wc -l <"$T/err")" 1
  is "  ... no image listed" "$(wf "$r" images --format json | jq length 2>&1)" 0
  out=$(wh_fsck "$r")
  pass_if "  ... the local store is consistent" "$?" "$out"
}
bad amb 1 "(ambiguous|image manifest with manifests)" "a manifest that is also an index is refused (CVE-2021-41190)"
bad big 1 "over the 4194304 byte limit" "a manifest over 4 MiB is cut off"
bad endless 1 "over the 4194304 byte limit" "an endless manifest is cut off"
bad climb 1 "invalid digest" "a layer digest climbing out of the store is refused"
bad md5 1 "unsupported algorithm" "a digest of an unknown algorithm is refused"
bad badheader 1 "bad Docker-Content-Digest" "a malformed Docker-Content-Digest is refused"
bad liarheader 6 "digest mismatch" "a Docker-Content-Digest naming other bytes: mismatch"
wf "$R" pull "$F/bydigest/app@$OTHER" >/dev/null 2>"$T/err"
like "bytes that are not the digest asked for: mismatch (exit 6)" "$?:$(tail -n 1 "$T/err")" "^6:.*digest mismatch"
bad short 6 "size mismatch" "a blob longer than its descriptor says: refused"
pass_if "nothing was written outside the stores" "$([[ ! -e $WH_TMP/escape && ! -e /escape ]]; echo $?)"

wh_done
