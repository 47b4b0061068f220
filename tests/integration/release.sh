#!/bin/bash
# tests/integration/release.sh - a host that follows a tag, end to end on
# one machine: v1, v2 and v3 of a small web service (busybox httpd) are
# built with wharf build and pushed to wharfd as app:prod; a host store
# runs the tag (`wharf run -d --restart on-failure -p`), `wharf update`
# switches to what the tag names now (the served page changes), a rollback
# of the tag on the registry then `wharf update` brings v1 back, `wharf
# rollback web` goes back to the image it ran before, a v3 whose health
# check fails is rolled back automatically, the restart policy restarts a
# crashed service, and the registry's tag history shows every move in
# order with the right digests.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
. "${BASH_SOURCE%/*}/client_lib.sh"
T=$WH_TMP
FIX=${TOP_SRCDIR:-${BASH_SOURCE%/*}/../..}/tests/fixtures

run_prereqs "hosts that follow a tag" slirp4netns python3
wh_start || wh_done
H=$WH_HOST
B=$(wf_root) # the CI that builds and pushes
R=$(wf_root) # the production host
bash "$FIX/mkbusybox.sh" "$T/bb" >/dev/null
wf "$B" load -i "$T/bb" >/dev/null
mkdir -p "$T/app"
cat >"$T/app/Dockerfile" <<'EOF'
FROM busybox
ARG VERSION=v1
ARG SERVE=yes
RUN mkdir -p /www && echo "page $VERSION" >/www/index.html && echo "$SERVE" >/serve
HEALTHCHECK --interval=300ms --retries=5 CMD wget -q -O /dev/null http://127.0.0.1:80/
CMD ["sh", "-c", "if [ $(cat /serve) = yes ]; then exec httpd -f -p 80 -h /www; else exec sleep 1000; fi"]
EOF
for v in v1 v2; do
  check "build $v" wf "$B" build -q -t "$H/app:$v" --build-arg VERSION=$v "$T/app"
done
check "build v3 (its health check fails)" wf "$B" build -q -t "$H/app:v3" --build-arg VERSION=v3 --build-arg SERVE=no "$T/app"
push_as_prod() {
  wf "$B" tag "$H/app:$1" "$H/app:prod" >/dev/null && wf "$B" push "$H/app:$1" >/dev/null &&
    wf "$B" push "$H/app:prod" >/dev/null
}
digest_of() { wf "$B" inspect "$H/app:$1" | jq -r .digest; }
D1=$(digest_of v1) D2=$(digest_of v2) D3=$(digest_of v3)

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
page() {
  local body i
  for i in $(seq 50); do
    body=$(curl -s -m 2 "http://127.0.0.1:$PORT/") && [[ -n $body ]] && break
    sleep 0.1
  done
  printf '%s' "$body"
}

check "push v1 as app:prod" push_as_prod v1
check "the host runs app:prod" wf "$R" run -d --name web --restart on-failure -p "127.0.0.1:$PORT:80" "$H/app:prod"
is "it serves v1" "$(page)" "page v1"
like "ps shows the tag it follows and the digest" "$(wf "$R" ps)" "$H/app:prod +${D1:0:19}.* web"
OUT=$(wf "$R" update web 2>&1)
like "update with nothing new says so" "$OUT" 'up to date'

check "push v2 as app:prod" push_as_prod v2
check "update switches to v2" wf "$R" update web
is "the page changed" "$(page)" "page v2"

check "rollback of app:prod on the registry" wf "$R" rollback --remote "$H/app:prod"
check "update follows the tag back" wf "$R" update web
is "v1 is served again" "$(page)" "page v1"
check "rollback web: back to the image it ran before" wf "$R" rollback web
is "v2 is served" "$(page)" "page v2"

check "push v3 as app:prod" push_as_prod v3
OUT=$(wf "$R" update web 2>&1)
ST=$?
pass_if "an update whose image fails its health check fails" "$([[ $ST != 0 ]]; echo $?)" "$OUT"
like "... and says it rolled back" "$OUT" 'rolled back'
is "the previous image is served again" "$(page)" "page v2"
like "ps shows the previous digest" "$(wf "$R" ps)" "${D2:0:19}"

# the restart policy: the service dies, its container comes back
PID=$(wf "$R" ps --format json | jq -r '.[] | select(.name == "web") | .pid')
wf "$R" exec web kill -9 2 >/dev/null 2>&1
for i in $(seq 100); do
  NEW=$(wf "$R" ps --format json | jq -r '.[] | select(.name == "web") | .pid')
  [[ -n $NEW && $NEW != null && $NEW != "$PID" ]] && break
  sleep 0.1
done
pass_if "on-failure restarts a crashed service" "$([[ -n $NEW && $NEW != "$PID" ]]; echo $?)" "$(wf "$R" ps -a)"
is "... which serves again" "$(page)" "page v2"
check "stop ends it for good (no restart)" wf "$R" stop web
sleep 0.5
is "... it stays stopped" "$(wf "$R" ps -q | wc -l)" 0

# the registry's history of the tag: every move, newest first
HIST=$(curl -s "$WH_URL/v2/app/_wharf/history/prod" | jq -r '.moves[].new' | tr '\n' ' ')
is "the tag history shows every move in order" "$HIST" "$D3 $D1 $D2 $D1 "
wf "$R" rm -f web >/dev/null 2>&1

# ---- deploy/: the units and the user-data of such a host ------------------------------
D=${TOP_SRCDIR:-${BASH_SOURCE%/*}/../..}/deploy
if command -v systemd-analyze >/dev/null; then
  for u in wharf-container@ wharf-update@; do
    sed "s|/usr/local/bin/wharf|$WHARF|" "$D/$u.service" >"$T/${u}web.service"
  done
  sed "s|/usr/local/bin/wharf|$WHARF|" "$D/wharf-update@.timer" >"$T/wharf-update@web.timer"
  check "systemd-analyze verify the host's units" systemd-analyze verify "$T/wharf-container@web.service" \
    "$T/wharf-update@web.service" "$T/wharf-update@web.timer"
else
  skip "systemd-analyze verify the host's units" "systemd-analyze not installed"
fi
if python3 -c 'import yaml' 2>/dev/null; then
  check "deploy/cloud-init-host.yaml: #cloud-config with a runcmd script bash parses" python3 -c '
import subprocess, sys, yaml
text = open(sys.argv[1]).read()
assert text.startswith("#cloud-config\n")
script = yaml.safe_load(text)["runcmd"][0][2]
subprocess.run(["bash", "-n"], input=script.encode(), check=True)
' "$D/cloud-init-host.yaml"
else
  check "cloud-init-host.yaml starts with #cloud-config" grep -qx '#cloud-config' "$D/cloud-init-host.yaml"
fi
is "nothing is left mounted" "$(grep -c "$R" /proc/self/mountinfo)" 0

wh_done
