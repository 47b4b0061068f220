#!/bin/bash
# tests/integration/client_tls.sh - wharf over HTTPS, against CNCF
# Distribution (docker-registry) serving TLS with a test CA made here with
# the openssl CLI:
#   - a loopback registry is insecure by default (docker's rule), tried
#     with plain HTTP first, then HTTPS without checking the certificate;
#     --insecure tries HTTPS first (unchecked), then plain HTTP;
#   - --tls-verify (=true) checks certificates even on loopback: refused
#     without the CA (exit 5, a certificate message), accepted with
#     --cert-dir DIR/ca.crt or $XDG_CONFIG_HOME/wharf/certs.d/HOST:PORT/ca.crt;
#     and it never falls back to plain HTTP;
#   - --tls-verify=false and --insecure accept the unknown CA;
#   - a registry that wants client certificates: refused without one,
#     accepted with NAME.cert + NAME.key from --cert-dir or certs.d;
#   - wharfd's own TLS (tls.cert/tls.key), when the wharfd under test has it.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
. "${BASH_SOURCE%/*}/client_lib.sh"
T=$WH_TMP

for t in openssl docker-registry; do
  if ! command -v $t >/dev/null; then
    skip "wharf over TLS" "$t is not installed"
    wh_done
  fi
done

# ---- a test CA, a server certificate for 127.0.0.1, a client certificate ----------------
P=$T/pki
mkdir -p "$P"
mkcert() { # NAME SUBJECT EXTENSIONS
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$P/$1.key" \
    -out "$P/$1.csr" -subj "$2" 2>/dev/null &&
    printf '%s\n' "$3" >"$P/$1.ext" &&
    openssl x509 -req -in "$P/$1.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 2 \
      -out "$P/$1.crt" -extfile "$P/$1.ext" 2>/dev/null
}
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$P/ca.key" \
  -out "$P/ca.crt" -days 2 -subj /CN=wharf-test-ca 2>/dev/null &&
  mkcert srv /CN=127.0.0.1 "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth" &&
  mkcert client /CN=wharf-client "extendedKeyUsage=clientAuth"
pass_if "a test CA, a server and a client certificate made with openssl" "$?"

# ---- an image in a local store, from a plain-HTTP wharfd on loopback --------------------------
wh_start || wh_done
wh_push_image tls/app v1 200000
expect "an image pushed to wharfd with curl" 201
R=$(wf_root)
out=$(wf "$R" --quiet pull "$WH_HOST/tls/app:v1" 2>"$T/err")
is "a plain-HTTP registry on loopback" "$out" "$WH_MDIGEST"
out=$(wf "$R" --quiet --insecure pull "$WH_HOST/tls/app:v1" 2>"$T/err")
is "the same with --insecure (HTTPS fails, plain HTTP follows)" "$out" "$WH_MDIGEST"
wf "$R" --tls-verify pull "$WH_HOST/tls/app:v1" >/dev/null 2>"$T/err"
is "--tls-verify never falls back to plain HTTP (exit 5)" "$?" 5
like "with a message naming the https URL" "$(tail -n 1 "$T/err")" "https://$WH_HOST"

# ---- a TLS registry ----------------------------------------------------------------------------
dr_start -t "$P/srv.crt" "$P/srv.key" || wh_done
D=$DR_HOST
wf "$R" tag "$WH_HOST/tls/app:v1" "$D/tls/app:v1"
out=$(wf "$R" --quiet push "$D/tls/app:v1" 2>"$T/err")
is "push to an HTTPS registry on loopback with an unknown CA (HTTP refused, HTTPS unchecked)" "$out" "$WH_MDIGEST"
out=$(wf "$R" --quiet --insecure push "$D/tls/app:v1" 2>"$T/err")
is "the same with --insecure (HTTPS first)" "$out" "$WH_MDIGEST"
is "it is served over HTTPS" "$(curl -s --cacert "$P/ca.crt" -o /dev/null -w '%{http_code}' \
  "https://$D/v2/tls/app/manifests/v1" -H "Accept: $MT_OCI_MANIFEST")" 200

R2=$(wf_root)
wf "$R2" --tls-verify pull "$D/tls/app:v1" >/dev/null 2>"$T/err"
is "--tls-verify without the CA is refused (exit 5)" "$?" 5
like "with a certificate message" "$(tail -n 1 "$T/err")" "[Cc]ertificate|SSL"
out=$(wf "$R2" --quiet --tls-verify=true --cert-dir "$P" pull "$D/tls/app:v1" 2>"$T/err")
is "--tls-verify=true --cert-dir DIR (ca.crt) verifies" "$out" "$WH_MDIGEST"
wf "$R2" --tls-verify --cert-dir "$T/nowhere" pull "$D/tls/app:v1" >/dev/null 2>"$T/err"
like "a --cert-dir that does not exist is an error" "$?:$(tail -n 1 "$T/err")" "^3:.*--cert-dir"

mkdir -p "$T/xdg/wharf/certs.d/$D"
cp "$P/ca.crt" "$T/xdg/wharf/certs.d/$D/ca.crt"
R3=$(wf_root)
out=$(XDG_CONFIG_HOME=$T/xdg wf "$R3" --quiet --tls-verify pull "$D/tls/app:v1" 2>"$T/err")
is "--tls-verify with certs.d/HOST:PORT/ca.crt under XDG_CONFIG_HOME" "$out" "$WH_MDIGEST"
R4=$(wf_root)
out=$(wf "$R4" --quiet --tls-verify=false pull "$D/tls/app:v1" 2>"$T/err")
is "--tls-verify=false accepts the unknown CA" "$out" "$WH_MDIGEST"
wf "$R4" --tls-verify=maybe images >/dev/null 2>&1
is "--tls-verify=maybe is a usage error" "$?" 2
out=$(wf "$R4" --quiet copy "$D/tls/app:v1" "$WH_HOST/tls/copied:v1" 2>"$T/err")
is "copy from the HTTPS registry to the plain-HTTP one" "$out" "$WH_MDIGEST"
dr_stop

# ---- a registry that wants client certificates -------------------------------------------------
dr_start -t "$P/srv.crt" "$P/srv.key" -c "$P/ca.crt" || wh_done
D=$DR_HOST
wf "$R" tag "$WH_HOST/tls/app:v1" "$D/tls/app:v1"
mkdir -p "$T/cd"
cp "$P/ca.crt" "$T/cd/ca.crt"
wf "$R" --tls-verify --cert-dir "$T/cd" push "$D/tls/app:v1" >/dev/null 2>"$T/err"
is "a registry that wants a client certificate refuses wharf without one (exit 5)" "$?" 5
wf "$R" push "$D/tls/app:v1" >/dev/null 2>"$T/err"
pass_if "also when insecure (HTTPS refused, then plain HTTP refused)" "$([[ $? != 0 ]]; echo $?)"
cp "$P/client.crt" "$T/cd/client.cert"
cp "$P/client.key" "$T/cd/client.key"
out=$(wf "$R" --quiet --tls-verify --cert-dir "$T/cd" push "$D/tls/app:v1" 2>"$T/err")
is "with --cert-dir holding client.cert and client.key it is accepted" "$out" "$WH_MDIGEST"
mkdir -p "$T/xdg2/wharf/certs.d/$D"
cp "$T/cd/"* "$T/xdg2/wharf/certs.d/$D/"
R5=$(wf_root)
out=$(XDG_CONFIG_HOME=$T/xdg2 wf "$R5" --quiet pull "$D/tls/app:v1" 2>"$T/err")
is "the client certificate is also taken from certs.d/HOST:PORT/" "$out" "$WH_MDIGEST"
rm "$T/cd/client.key"
wf "$R" --cert-dir "$T/cd" push "$D/tls/app:v1" >/dev/null 2>"$T/err"
like "a client certificate without its key is an error" "$?:$(tail -n 1 "$T/err")" "^1:.*client.cert.*no key"
dr_stop

# ---- wharfd itself over TLS (tls.cert/tls.key), when this wharfd has it --------------------------
printf '{"tls": {"cert": "%s", "key": "%s"}}\n' "$P/srv.crt" "$P/srv.key" >"$T/wtls.json"
WROOT=$(mktemp -d "$T/root.XXXXXX")
mkfifo "$T/wtls.fifo"
"$WHARFD" --listen 127.0.0.1:0 --root "$WROOT" --config "$T/wtls.json" >"$T/wtls.fifo" 2>"$T/wtls.stderr" &
WTPID=$!
wh_track "$WTPID"
exec {fd}<"$T/wtls.fifo"
IFS= read -r -t 20 -u "$fd" line
cat <&"$fd" >/dev/null &
wh_track "$!"
exec {fd}<&-
if [[ $line =~ ^listening\ on\ https://127\.0\.0\.1:([0-9]+)$ ]]; then
  WT=127.0.0.1:${BASH_REMATCH[1]}
  WH_SERVERS+=("$WTPID")
  wh_add_root "$WROOT"
  wf "$R" tag "$WH_HOST/tls/app:v1" "$WT/tls/app:v1"
  out=$(wf "$R" --quiet --tls-verify --cert-dir "$P" push "$WT/tls/app:v1" 2>"$T/err")
  is "push to wharfd over TLS, verified with --cert-dir" "$out" "$WH_MDIGEST"
  out=$(wf "$(wf_root)" --quiet pull "$WT/tls/app:v1" 2>"$T/err")
  is "pull from wharfd over TLS on loopback by default (plain HTTP fails, HTTPS follows)" "$out" "$WH_MDIGEST"
  wf "$(wf_root)" --tls-verify pull "$WT/tls/app:v1" >/dev/null 2>"$T/err"
  is "--tls-verify without the CA is refused by wharfd's certificate too (exit 5)" "$?" 5
else
  kill -KILL "$WTPID" 2>/dev/null
  wait "$WTPID" 2>/dev/null
  skip "wharf against wharfd over TLS" "this wharfd does not serve TLS"
fi

wh_done
