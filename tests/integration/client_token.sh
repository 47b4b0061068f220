#!/bin/bash
# tests/integration/client_token.sh - the Docker bearer-token flow and
# redirects, with a small token-issuing front (python3, written below) in
# front of wharfd:
#   - /token issues tokens per scope: pull for anyone, push only with
#     alice's Basic credentials; every other request needs a token with the
#     right scope, else 401 with a Bearer challenge naming realm/service/scope;
#   - blob GETs are answered with a 307 to another origin ("blob storage",
#     localhost:PORT2), which records any Authorization header it receives.
# Checks: anonymous pull; push refused without login; login verified
# through the token service; push; pull into a fresh store through the
# redirect with no credential or token leaking to the other origin; one
# token per scope (cached across parallel transfers); a cross-repository
# mount asks for both scopes in one token; logout.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
. "${BASH_SOURCE%/*}/client_lib.sh"
if ! command -v python3 >/dev/null; then
  skip "bearer-token flow" "python3 is not installed"
  wh_done
fi
wh_start || wh_done
T=$WH_TMP

cat >"$T/front.py" <<'EOF'
import base64, http.client, http.server, json, re, sys, threading, urllib.parse
up = int(sys.argv[1]); log = open(sys.argv[2], "a", buffering=1)
tokens, lock, ports = {}, threading.Lock(), {}
USER = "alice:pw"

def need(method, path):
    m = re.match(r"^/v2/(.+)/(manifests|blobs|tags)/", path)
    if not m:
        return None
    return m.group(1), "pull" if method in ("GET", "HEAD") else "push"

class Front(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def reply(self, code, body=b"", hdrs=()):
        self.send_response(code)
        for k, v in hdrs:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
    def token(self):
        q = urllib.parse.urlparse(self.path).query
        scopes = urllib.parse.parse_qs(q).get("scope", [])
        a = self.headers.get("Authorization", "")
        user = None
        if a.startswith("Basic "):
            if base64.b64decode(a[6:]).decode() != USER:
                return self.reply(401, b'{"details":"bad credentials"}')
            user = "alice"
        granted = set()
        for s in scopes:
            for part in s.split(" "):
                kind, name, acts = part.split(":")
                for act in acts.split(","):
                    if act == "pull" or user:
                        granted.add((name, act))
        with lock:
            t = "tok%d" % len(tokens)
            tokens[t] = granted
        log.write("token user=%s scopes=%s\n" % (user, "|".join(sorted(scopes))))
        self.reply(200, json.dumps({"token": t, "expires_in": 300}).encode())
    def challenge(self, scope):
        realm = "http://127.0.0.1:%d/token" % ports["front"]
        c = 'Bearer realm="%s",service="test-registry"' % realm
        if scope:
            c += ',scope="repository:%s:%s"' % scope
        self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"token needed"}]}',
                   [("WWW-Authenticate", c), ("Content-Type", "application/json")])
    def handle_any(self):
        n = int(self.headers.get("Content-Length", "0") or 0)
        self.body = self.rfile.read(n) if n else None  # always consumed: the connection is kept
        path = urllib.parse.urlparse(self.path).path
        if path == "/token":
            return self.token()
        a = self.headers.get("Authorization", "")
        t = a[7:] if a.startswith("Bearer ") else None
        n = need(self.command, path)
        with lock:
            ok = t in tokens and (n is None or n in tokens[t] or (n[1] == "pull" and (n[0], "push") in tokens[t]))
        if not ok:
            return self.challenge(n)
        if self.command == "GET" and "/blobs/sha256:" in path:
            loc = "http://localhost:%d/storage?u=%s" % (ports["store"], urllib.parse.quote(self.path))
            return self.reply(307, b"", [("Location", loc)])
        self.forward(self.path)
    def forward(self, path):
        body = self.body
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("authorization", "host")}
        c = http.client.HTTPConnection("127.0.0.1", up)
        c.request(self.command, path, body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        c.close()
    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = handle_any

class Store(Front):
    def handle_any(self):
        self.body = None
        a = self.headers.get("Authorization")
        log.write("storage %s auth=%s\n" % (self.command, "LEAKED" if a else "none"))
        u = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)["u"][0]
        self.forward(u)
    do_GET = do_HEAD = handle_any

front = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Front)
store = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Store)
ports["front"], ports["store"] = front.server_address[1], store.server_address[1]
threading.Thread(target=store.serve_forever, daemon=True).start()
print(ports["front"], ports["store"], flush=True)
front.serve_forever()
EOF

fifo=$T/front.fifo
mkfifo "$fifo"
python3 "$T/front.py" "$WH_PORT" "$T/front.log" >"$fifo" 2>"$T/front.err" &
wh_track "$!"
exec {FD}<"$fifo"
rm -f "$fifo"
read -r -t 20 -u "$FD" FPORT SPORT
if [[ ! $FPORT =~ ^[0-9]+$ ]]; then
  not_ok "the token front starts" "$(cat "$T/front.err")"
  wh_done
fi
F=127.0.0.1:$FPORT
: >>"$T/front.log"

wh_push_image tok/app v1 300000
expect "an image pushed into wharfd with curl" 201
D=$WH_MDIGEST
R1=$(wf_root)
out=$(wf "$R1" --quiet pull "$F/tok/app:v1" 2>"$T/err")
is "anonymous pull through the token flow" "$out" "$D"
is "one token for the pull scope, shared by the parallel blob transfers" \
  "$(grep -c 'scopes=repository:tok/app:pull$' "$T/front.log")" 1
is "blob storage got the blobs" "$(grep -c '^storage GET' "$T/front.log")" 2
is "and never an Authorization header" "$(grep -c 'LEAKED' "$T/front.log")" 0

check "tag for a new repository" wf "$R1" tag "$F/tok/app:v1" "$F/tok/copy:v1"
wf "$R1" push "$F/tok/copy:v1" >/dev/null 2>"$T/err"
is "push without credentials exits 4" "$?" 4
wf "$R1" login -u alice -p nope "$F" >/dev/null 2>"$T/err"
is "login with a wrong password is refused by the token service (exit 4)" "$?" 4
check "login through the token service" wf "$R1" login -u alice -p pw "$F"
like "login asked the token service with alice's credentials" "$(tail -n 1 "$T/front.log")" "^token user=alice"
out=$(wf "$R1" --quiet push "$F/tok/copy:v1" 2>"$T/err")
is "push with a token for pull,push" "$out" "$D"
is "the push token was asked for once, with credentials" \
  "$(grep -c 'user=alice scopes=repository:tok/copy:pull,push$' "$T/front.log")" 1
wh_req HEAD /v2/tok/copy/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
expect_hdr "wharfd has the pushed manifest" Docker-Content-Digest "^$D\$"

R2=$(wf_root)
out=$(wf "$R2" --quiet pull "$F/tok/copy:v1" 2>"$T/err")
is "pull into a fresh store, logged in, through the redirect" "$out" "$D"
is "still no credential or token sent to blob storage" "$(grep -c 'LEAKED' "$T/front.log")" 0
check "tag for a third repository" wf "$R2" tag "$F/tok/copy:v1" "$F/tok/third:v1"
check "push it (a cross-repository mount)" wf "$R2" push "$F/tok/third:v1"
n=$(grep 'repository:tok/third:pull,push' "$T/front.log" | grep -c 'repository:tok/copy:pull')
pass_if "the mount asked for one token covering both repositories" "$([[ $n -ge 1 ]]; echo $?)" \
  "$(grep 'tok/third' "$T/front.log")"
check "logout" wf "$R2" logout "$F"
wf "$R2" push "$F/tok/copy:v1" >/dev/null 2>"$T/err"
is "push after logout exits 4" "$?" 4

exec {FD}<&-
wh_done
