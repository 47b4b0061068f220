#!/bin/bash
# tests/integration/deploy.sh - the files in deploy/ hold together:
# deploy/wharfd.json (the sample with every option) loads and wharfd serves
# with it (only the files it names are swapped for test fixtures, and TLS is
# left out: the harness speaks plain HTTP); every key of the sample is
# documented in deploy/CONFIG.md; systemd-analyze verify accepts
# deploy/wharfd.service (skipped without systemd-analyze); the cloud-init
# user-data is YAML with a script bash can parse; the shell scripts parse.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init

D=${TOP_SRCDIR:-$(dirname "$0")/../..}/deploy
SAMPLE=$D/wharfd.json

check "deploy/wharfd.json is one JSON object" jq -e 'type == "object"' "$SAMPLE"

# ---- the sample config serves ------------------------------------------------------
F=$WH_TMP/etc
mkdir -p "$F"
if command -v htpasswd >/dev/null; then
  htpasswd -nbB alice 'alice-pw' >"$F/htpasswd" 2>/dev/null
else
  : >"$F/htpasswd"
fi
HAVE_KEYS=0
if command -v openssl >/dev/null &&
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$F/token.pem" 2>/dev/null &&
  openssl pkey -in "$F/token.pem" -pubout -out "$F/issuer.pem" 2>/dev/null; then
  HAVE_KEYS=1
fi
CFG=$WH_TMP/wharfd.json
# Files the sample names become fixtures; without openssl, the sections that
# need keys go.
jq --arg f "$F" --argjson keys "$HAVE_KEYS" '
  def swap_key: if type == "string" then "\($f)/issuer.pem" else .file = "\($f)/issuer.pem" end;
  del(.tls)
  | if .auth.htpasswd? then .auth.htpasswd = "\($f)/htpasswd" else . end
  | if .auth.token?.key? then
      (if $keys == 1 then .auth.token.key = "\($f)/token.pem" else del(.auth.token) end) else . end
  | if .auth.issuers? then
      (if $keys == 1 then .auth.issuers |= map(.keys |= map(swap_key)) else del(.auth.issuers) end) else . end
' "$SAMPLE" >"$CFG"
pass_if "fixtures for the files deploy/wharfd.json names" $? "$(cat "$CFG")"
if wh_start -c "$CFG"; then
  wh_req GET /healthz
  expect "wharfd serves with deploy/wharfd.json: /healthz 200" 200
  wh_req GET /readyz
  expect "... and /readyz 200" 200
  wh_req GET /v2/
  expect "... and /v2/ answers (200, or 401 with auth on)" '200|401'
  wh_req GET /metrics
  expect "... and /metrics 200" 200
  wh_stop
fi

# ---- every key documented ------------------------------------------------------------
# (group names under auth.groups are data, not keys)
missing=$(jq -r '[paths | select(.[0:2] != ["auth", "groups"] or length < 3) | map(select(type == "string"))
  | last | select(. != null)] | unique[]' "$SAMPLE" |
  while read -r k; do grep -qE "\`$k(\[\])?\`" "$D/CONFIG.md" || printf '%s ' "$k"; done)
is "every key of deploy/wharfd.json is documented in deploy/CONFIG.md" "$missing" ""

# ---- systemd unit, cloud-init, scripts ---------------------------------------------------
if command -v systemd-analyze >/dev/null; then
  # verify wants the ExecStart binary to exist: point it at the one under test
  sed "s|/usr/local/bin/wharfd|$WHARFD|" "$D/wharfd.service" >"$WH_TMP/wharfd.service"
  check "systemd-analyze verify deploy/wharfd.service" systemd-analyze verify "$WH_TMP/wharfd.service"
else
  skip "systemd-analyze verify deploy/wharfd.service" "systemd-analyze not installed"
fi
for k in User=wharf ProtectSystem=strict ReadWritePaths=/var/lib/wharf NoNewPrivileges=yes PrivateTmp=yes \
  ProtectHome=yes 'CapabilityBoundingSet=$' RestrictAddressFamilies= SystemCallFilter=@system-service \
  'ExecReload=/bin/kill -HUP'; do
  grep -q "^$k" "$D/wharfd.service"
  pass_if "wharfd.service sets ${k%\$}" $?
done
if python3 -c 'import yaml' 2>/dev/null; then
  check "cloud-init user-data: #cloud-config YAML with a runcmd script bash parses" python3 -c '
import subprocess, sys, yaml
text = open(sys.argv[1]).read()
assert text.startswith("#cloud-config\n")
d = yaml.safe_load(text)
script = d["runcmd"][0][2]
subprocess.run(["bash", "-n"], input=script.encode(), check=True)
' "$D/cloud-init.yaml"
else
  check "cloud-init user-data starts with #cloud-config" grep -qx '#cloud-config' "$D/cloud-init.yaml"
fi
check "deploy/install-deps parses" bash -n "$D/install-deps"
check "deploy/quickstart parses" bash -n "$D/quickstart"
check "deploy/install-deps --help" bash "$D/install-deps" --help

wh_done
