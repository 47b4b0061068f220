#!/bin/bash
# tests/integration/client_credhelper.sh - docker's credential helpers:
# a fake docker-credential-fake (a bash script this test puts first in
# PATH; it keeps what it is given in files and logs every call) in front of
# docker-registry with htpasswd auth:
#   - credsStore: login stores through the helper (nothing in config.json),
#     pull and push get the credentials from it (the server URL on stdin),
#     logout erases them; credHelpers {HOST: NAME} wins over credsStore;
#     a helper named in docker's config.json is used too;
#   - a helper that is not installed, one that hangs (killed after
#     $WHARF_CREDHELPER_TIMEOUT), one that talks too much, one that fails:
#     one clear error line each;
#   - Username "<token>": the Secret is an identity token, traded at the
#     token realm with an OAuth2 refresh_token POST (a small python3 front).
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
. "${BASH_SOURCE%/*}/client_lib.sh"
T=$WH_TMP

for t in htpasswd docker-registry; do
  if ! command -v $t >/dev/null; then
    skip "credential helpers" "$t is not installed"
    wh_done
  fi
done

# ---- fake helpers -----------------------------------------------------------------------------
mkdir -p "$T/bin" "$T/store"
export FAKE_STORE=$T/store
cat >"$T/bin/docker-credential-fake" <<'EOF'
#!/bin/bash
# keeps {"ServerURL","Username","Secret"} per server in $FAKE_STORE
set -u
in=$(cat)
if [[ $1 == store ]]; then srv=$(jq -r .ServerURL <<<"$in"); else srv=$in; fi
printf '%s %s\n' "$1" "$srv" >>"$FAKE_STORE/calls"
f=$FAKE_STORE/$(printf '%s' "$srv" | tr -c 'A-Za-z0-9.' _)
case $1 in
  get) [[ -f $f ]] && cat "$f" && exit 0 ;;
  store) printf '%s' "$in" >"$f" && exit 0 ;;
  erase) [[ -f $f ]] && rm -f "$f" && exit 0 ;;
esac
echo "credentials not found in native keychain"
exit 1
EOF
printf '#!/bin/bash\necho $$ >"$FAKE_STORE/slow.pid"\nexec sleep 60\n' >"$T/bin/docker-credential-slow"
printf '#!/bin/bash\nhead -c 1000000 /dev/zero | tr "\\\\0" x\n' >"$T/bin/docker-credential-loud"
printf '#!/bin/bash\necho "keychain locked"\nexit 3\n' >"$T/bin/docker-credential-broken"
chmod +x "$T/bin/"docker-credential-*
export PATH=$T/bin:$PATH
mkdir -p "${WHARF_CONFIG%/*}" "$DOCKER_CONFIG"

htpasswd -Bbn alice 's3cr:et' >"$T/htpasswd" 2>/dev/null
dr_start -a "$T/htpasswd" || wh_done
H=$DR_HOST
wh_start || wh_done
wh_push_image ch/app v1 100000
expect "an image pushed to wharfd with curl" 201
R=$(wf_root)
wf "$R" --quiet pull "$WH_HOST/ch/app:v1" >/dev/null 2>"$T/err" && wf "$R" tag "$WH_HOST/ch/app:v1" "$H/ch/app:v1"
pass_if "a local image to push" "$?" "$(cat "$T/err")"

# ---- credsStore --------------------------------------------------------------------------------
printf '{"credsStore": "fake", "insecure_registries": []}\n' >"$WHARF_CONFIG"
wf "$R" login -u alice -p 's3cr:et' "$H" >/dev/null 2>"$T/err"
is "login with credsStore: ok" "$?" 0
is "the helper got store with the server" "$(grep store "$T/store/calls")" "store $H"
is "it holds the credentials" "$(jq -r '.Username + " " + .Secret' "$T/store/$(printf '%s' "$H" | tr -c 'A-Za-z0-9.' _)")" \
  "alice s3cr:et"
is "config.json keeps no password" "$(jq -c '.auths // {}' "$WHARF_CONFIG")" "{}"
: >"$T/store/calls"
out=$(wf "$R" --quiet push "$H/ch/app:v1" 2>"$T/err")
is "push with the helper's credentials" "$out" "$WH_MDIGEST"
is "the helper was asked (get, the server on stdin)" "$(sort -u "$T/store/calls")" "get $H"
R2=$(wf_root)
out=$(wf "$R2" --quiet pull "$H/ch/app:v1" 2>"$T/err")
is "pull with the helper's credentials" "$out" "$WH_MDIGEST"
check "logout erases through the helper" wf "$R" logout "$H"
is "the helper's entry is gone" "$(ls "$T/store" | grep -vc calls)" 0
wf "$R2" pull "$H/ch/app:v1" >/dev/null 2>"$T/err"
is "pull after logout exits 4" "$?" 4
wf "$R2" logout "$H" >/dev/null 2>"$T/err"
is "a second logout exits 3" "$?" 3

# ---- credHelpers wins; docker's config.json -----------------------------------------------------
printf '{"credsStore": "nosuch", "credHelpers": {"%s": "fake"}}\n' "$H" >"$WHARF_CONFIG"
check "login with credHelpers {HOST: fake} (credsStore names a missing helper)" \
  wf "$R" login -u alice -p 's3cr:et' "$H"
out=$(wf "$R2" --quiet pull "$H/ch/app:v1" 2>"$T/err")
is "pull through credHelpers" "$out" "$WH_MDIGEST"
printf '{}\n' >"$WHARF_CONFIG"
printf '{"credHelpers": {"%s": "fake"}}\n' "$H" >"$DOCKER_CONFIG/config.json"
out=$(wf "$(wf_root)" --quiet pull "$H/ch/app:v1" 2>"$T/err")
is "a helper named in docker's config.json is used" "$out" "$WH_MDIGEST"
rm -f "$DOCKER_CONFIG/config.json"

# ---- helpers that misbehave ------------------------------------------------------------------------
printf '{"credHelpers": {"%s": "nosuch"}}\n' "$H" >"$WHARF_CONFIG"
wf "$(wf_root)" pull "$H/ch/app:v1" >/dev/null 2>"$T/err"
like "a helper that is not installed: a clear error (exit 1)" "$?:$(tail -n 1 "$T/err")" \
  '^1:.*credential helper "docker-credential-nosuch" is not installed'
printf '{"credHelpers": {"%s": "slow"}}\n' "$H" >"$WHARF_CONFIG"
WHARF_CREDHELPER_TIMEOUT=1 wf "$(wf_root)" pull "$H/ch/app:v1" >/dev/null 2>"$T/err"
like "a helper that hangs is given up after the timeout (exit 5)" "$?:$(tail -n 1 "$T/err")" \
  '^5:.*did not answer within 1 s'
pid=$(cat "$T/store/slow.pid" 2>/dev/null)
pass_if "and killed" "$([[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; echo $?)" "pid: $pid"
printf '{"credHelpers": {"%s": "loud"}}\n' "$H" >"$WHARF_CONFIG"
wf "$(wf_root)" pull "$H/ch/app:v1" >/dev/null 2>"$T/err"
like "a helper that writes a megabyte is cut off" "$?:$(tail -n 1 "$T/err")" '^1:.*answer over'
printf '{"credHelpers": {"%s": "broken"}}\n' "$H" >"$WHARF_CONFIG"
wf "$(wf_root)" pull "$H/ch/app:v1" >/dev/null 2>"$T/err"
like "a helper that fails: its exit status and first line" "$?:$(tail -n 1 "$T/err")" \
  '^1:.*failed \(exit 3\): keychain locked'
printf '{"credHelpers": {"%s": "../../bin/sh"}}\n' "$H" >"$WHARF_CONFIG"
wf "$(wf_root)" pull "$H/ch/app:v1" >/dev/null 2>"$T/err"
like "a helper name that is a path is refused" "$?:$(tail -n 1 "$T/err")" '^1:.*bad credential helper name'
dr_stop

# ---- identity tokens ---------------------------------------------------------------------------------
if ! command -v python3 >/dev/null; then
  skip "identity tokens" "python3 is not installed"
  wh_done
fi
# front.py UPSTREAM-PORT: every /v2/ request needs "Bearer AT-1"; POST /token
# with grant_type=refresh_token&refresh_token=ID-1 gives it (form logged).
cat >"$T/front.py" <<'EOF'
import http.server, sys, urllib.parse, urllib.request, json
up = int(sys.argv[1])
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, code, body=b"", hdrs=()):
        self.send_response(code)
        for k, v in hdrs: self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD": self.wfile.write(body)
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        if self.path != "/token":
            return self.reply(404)
        print(json.dumps({k: v[0] for k, v in form.items()}, sort_keys=True), flush=True)
        if form.get("grant_type") == ["refresh_token"] and form.get("refresh_token") == ["ID-1"]:
            return self.reply(200, b'{"access_token": "AT-1", "expires_in": 300}', [("Content-Type", "application/json")])
        self.reply(401)
    def proxy(self):
        if self.headers.get("Authorization") != "Bearer AT-1":
            port = self.server.server_address[1]
            return self.reply(401, b"", [("WWW-Authenticate",
                'Bearer realm="http://127.0.0.1:%d/token",service="front",scope="repository:ch/app:pull"' % port)])
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (up, self.path), method=self.command,
                                     headers={k: v for k, v in self.headers.items() if k.lower() in ("accept", "range")})
        try:
            r = urllib.request.urlopen(req)
        except urllib.error.HTTPError as e:
            r = e
        body = r.read()
        self.reply(r.status, body, [(k, v) for k, v in r.headers.items()
                                    if k.lower() in ("content-type", "docker-content-digest")])
    do_GET = do_HEAD = proxy
http.server.ThreadingHTTPServer.daemon_threads = True
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
EOF
mkfifo "$T/front.fifo"
python3 "$T/front.py" "$WH_PORT" >"$T/front.fifo" 2>"$T/front.err" &
FPID=$!
wh_track "$FPID"
exec {FFD}<"$T/front.fifo"
IFS= read -r -t 20 -u "$FFD" FPORT
cat <&"$FFD" >"$T/front.log" &
wh_track "$!"
F=127.0.0.1:$FPORT
printf '{"ServerURL": "%s", "Username": "<token>", "Secret": "ID-1"}' "$F" >"$T/store/$(printf '%s' "$F" | tr -c 'A-Za-z0-9.' _)"
printf '{"credsStore": "fake"}\n' >"$WHARF_CONFIG"
out=$(wf "$(wf_root)" --quiet pull "$F/ch/app:v1" 2>"$T/err")
is "an identity token from the helper opens a bearer-token registry" "$out" "$WH_MDIGEST"
like "traded with an OAuth2 refresh_token POST" "$(head -n 1 "$T/front.log")" \
  '"client_id": "wharf", "grant_type": "refresh_token", "refresh_token": "ID-1", "scope": "repository:ch/app:pull", "service": "front"'
printf '{"auths": {"%s": {"identitytoken": "ID-1"}}}\n' "$F" >"$WHARF_CONFIG"
out=$(wf "$(wf_root)" --quiet pull "$F/ch/app:v1" 2>"$T/err")
is "an \"identitytoken\" in config.json works the same" "$out" "$WH_MDIGEST"

wh_done
