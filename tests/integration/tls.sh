#!/bin/bash
# tests/integration/tls.sh - wharfd's built-in TLS with a test CA made by the
# openssl CLI: "listening on https://", curl with --cacert works and without
# it fails, TLS 1.1 and below are refused while 1.2 and 1.3 work, skopeo
# pushes and pulls with --dest-cert-dir/--src-cert-dir, SIGHUP swaps in a
# new certificate without dropping the listener, a bad pair at SIGHUP keeps
# the old one serving, and a config with a cert but no key is refused.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
if ! command -v openssl >/dev/null; then
  skip "TLS" "openssl is not installed (deploy/install-deps --test)"
  wh_done
fi
T=$WH_TMP
mkfifo "$T/pause.fifo"
# lib.sh's wh_req and wh_loc know http:// URLs only: absolute https URLs of
# this server become paths again before lib.sh prefixes WH_URL.
eval "$(declare -f wh_req | sed '1s/^wh_req/wh_req_lib/')"
wh_req() {
  local m=$1 u=$2
  shift 2
  [[ $u == https://* ]] && u=${u#"$WH_URL"}
  wh_req_lib "$m" "$u" "$@"
}
pause() { read -r -t "$1" _ <>"$T/pause.fifo" || true; } # a wait with no child process

# ---- a test CA and server certificates ----------------------------------------------
mkdir -p "$T/ca" "$T/certs" "$T/certdir"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca/ca.key" -out "$T/ca/ca.crt" -days 2 \
  -subj "/CN=wharf test CA" 2>/dev/null
# mk_cert NAME CN: a key and a certificate for 127.0.0.1/localhost signed by the CA
mk_cert() {
  openssl req -newkey rsa:2048 -nodes -keyout "$T/$1.key" -out "$T/$1.csr" -subj "/CN=$2" 2>/dev/null &&
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$T/$1.ext" &&
    openssl x509 -req -in "$T/$1.csr" -CA "$T/ca/ca.crt" -CAkey "$T/ca/ca.key" -CAcreateserial \
      -out "$T/$1.crt" -days 2 -extfile "$T/$1.ext" 2>/dev/null
}
cp "$T/ca/ca.crt" "$T/certdir/ca.crt" # what --cert-dir reads: CA roots only
check "test CA signs server certificate #1" mk_cert one wharf-one
check "test CA signs server certificate #2" mk_cert two wharf-two
cp "$T/one.crt" "$T/certs/server.crt"
cp "$T/one.key" "$T/certs/server.key"
printf '{"tls": {"cert": "%s", "key": "%s"}}\n' "$T/certs/server.crt" "$T/certs/server.key" >"$T/cfg.json"

# ---- start (lib.sh's wh_start expects http://) --------------------------------------------
ROOT=$(mktemp -d "$T/root.XXXXXX")
fifo=$T/start.fifo
mkfifo "$fifo"
"$WHARFD" --listen 127.0.0.1:0 --root "$ROOT" --config "$T/cfg.json" >"$fifo" 2>"$T/wharfd.stderr" &
WH_PID=$!
wh_track "$WH_PID"
exec {fd}<"$fifo"
IFS= read -r -t 20 -u "$fd" line
cat <&"$fd" >/dev/null &
wh_track "$!"
exec {fd}<&-
WH_LOG=$T/wharfd.stderr
if [[ ! $line =~ ^listening\ on\ https://127\.0\.0\.1:([0-9]+)$ ]]; then
  not_ok "wharfd with tls.cert/tls.key prints listening on https://" "got: '$line'" "$(tail -n 5 "$WH_LOG")"
  wh_done
fi
ok "wharfd with tls.cert/tls.key prints listening on https://127.0.0.1:PORT"
WH_PORT=${BASH_REMATCH[1]}
WH_HOST=127.0.0.1:$WH_PORT
WH_URL=https://$WH_HOST
WH_SERVERS+=("$WH_PID")
wh_add_root "$ROOT"

# ---- curl -------------------------------------------------------------------------------------
wh_req GET /v2/ --cacert "$T/ca/ca.crt"
expect "curl --cacert: GET /v2/ over https is 200" 200
wh_req GET /v2/
is "curl without the CA fails verification (no HTTP answer)" "$H_CODE" 000
wh_req GET "http://$WH_HOST/v2/"
like "plain http to the https port gets no HTTP answer" "$H_CODE" '^(000|400)$'
wh_req GET /v2/ --cacert "$T/ca/ca.crt" --tlsv1.2 --tls-max 1.2
expect "TLS 1.2 works" 200
wh_req GET /v2/ --cacert "$T/ca/ca.crt" --tlsv1.3
expect "TLS 1.3 works" 200

# s_client HOST ARGS...: the handshake's exit status (0 = it completed)
s_client() {
  timeout 20 openssl s_client -connect "$WH_HOST" -CAfile "$T/ca/ca.crt" "$@" </dev/null >"$T/s_client.out" 2>&1
}
s_client -tls1_2
is "openssl s_client -tls1_2 completes the handshake (control)" "$?" 0
# SECLEVEL=0 so that the client itself is willing to speak TLS 1.1
s_client -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'
st=$?
if grep -qi 'no protocols available' "$T/s_client.out"; then
  skip "TLS 1.1 is refused" "this openssl cannot offer TLS 1.1 at all"
else
  pass_if "TLS 1.1 is refused by wharfd" "$([[ $st != 0 ]]; echo $?)" "$(tail -n 5 "$T/s_client.out")"
fi
s_client -tls1 -cipher 'DEFAULT:@SECLEVEL=0'
pass_if "TLS 1.0 is refused by wharfd" "$([[ $? != 0 ]]; echo $?)"

# ---- pushes over https --------------------------------------------------------------------------
export CURL_HOME=$T/curlhome
mkdir -p "$CURL_HOME"
printf 'cacert = "%s"\n' "$T/ca/ca.crt" >"$CURL_HOME/.curlrc"
wh_push_image tls/app v1 4096
expect "a push with curl over https" 201
D=$WH_MDIGEST
wh_req GET /v2/tls/app/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
expect_hdr "and its manifest reads back" Docker-Content-Digest "^$D\$"

if command -v skopeo >/dev/null; then
  wh_containers_env
  SK=(timeout 120 skopeo --policy "$WH_POLICY" --tmpdir "$TMPDIR")
  bash "${TOP_SRCDIR:-${BASH_SOURCE%/*}/../..}/tests/fixtures/mkoci.sh" -t v1 "$T/src" 4096 30000 >/dev/null
  check "skopeo copy --dest-cert-dir (test CA) -> wharfd over https" "${SK[@]}" copy \
    --dest-cert-dir "$T/certdir" "oci:$T/src:v1" "docker://$WH_HOST/tls/sk:v1"
  check "skopeo copy --src-cert-dir wharfd -> oci:" "${SK[@]}" copy --src-cert-dir "$T/certdir" \
    "docker://$WH_HOST/tls/sk:v1" "oci:$T/back:v1"
  "${SK[@]}" inspect --raw "docker://$WH_HOST/tls/sk:v1" >/dev/null 2>&1
  is "skopeo without the CA refuses the certificate" "$?" 1
else
  skip "skopeo over https" "skopeo is not installed"
fi

# ---- SIGHUP: a new certificate ---------------------------------------------------------------------
subject() {
  timeout 20 openssl s_client -connect "$WH_HOST" -CAfile "$T/ca/ca.crt" </dev/null 2>/dev/null |
    openssl x509 -noout -subject 2>/dev/null
}
like "the first certificate is served" "$(subject)" 'CN ?= ?wharf-one'
cp "$T/two.crt" "$T/certs/server.crt"
cp "$T/two.key" "$T/certs/server.key"
kill -HUP "$WH_PID"
for _ in $(seq 1 40); do # bounded: the reload runs in wharfd's signal loop
  [[ $(subject) =~ wharf-two ]] && break
  pause 0.25
done
like "after SIGHUP the new certificate is served" "$(subject)" 'CN ?= ?wharf-two'
wh_req GET /v2/tls/app/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
expect "requests still work after the reload" 200
cp "$T/one.key" "$T/certs/server.key" # key of another certificate
kill -HUP "$WH_PID"
for _ in $(seq 1 40); do
  grep -q 'does not match' "$WH_LOG" && break
  pause 0.25
done
check "a mismatched pair at SIGHUP is reported" grep -q 'does not match' "$WH_LOG"
like "and the previous certificate keeps serving" "$(subject)" 'CN ?= ?wharf-two'
wh_req GET /v2/ --cacert "$T/ca/ca.crt"
expect "still serving" 200

# ---- bad configs ----------------------------------------------------------------------------------------
printf '{"tls": {"cert": "%s"}}\n' "$T/one.crt" >"$T/bad.json"
"$WHARFD" --listen 127.0.0.1:0 --root "$ROOT.bad" --config "$T/bad.json" >/dev/null 2>"$T/bad.err"
is "a cert without a key: wharfd exits 2" "$?" 2
like "naming the problem" "$(cat "$T/bad.err")" 'both "cert" and "key"'

wh_done
