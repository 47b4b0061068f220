#!/bin/bash
# tests/integration/client_distribution.sh - the wharf client against CNCF
# Distribution (docker-registry), with skopeo on the other side:
#   skopeo push -> docker-registry -> wharf pull;
#   wharf push -> docker-registry -> skopeo pull (digests identical);
#   a multi-platform index and a Docker schema 2 image through it unchanged;
#   htpasswd auth: push refused without login, login with a wrong password
#   refused and nothing saved, login, push, pull, credentials read from
#   docker's config.json, logout.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
. "${BASH_SOURCE%/*}/client_lib.sh"
for t in skopeo docker-registry; do
  if ! command -v "$t" >/dev/null; then
    skip "wharf against docker-registry" "$t is not installed (deploy/install-deps --test installs it)"
    wh_done
  fi
done
T=$WH_TMP
dr_start || wh_done
H=$DR_HOST
# skopeo's private configuration, pointed at this registry
WH_HOST=$H
wh_containers_env
SK=(timeout 120 skopeo --policy "$WH_POLICY" --tmpdir "$TMPDIR")
R1=$(wf_root)

# ---- skopeo push -> docker-registry -> wharf pull ------------------------------------
D1=$(mk_fixture -t v1 "$T/src" 2048 150000 1200000)
check "skopeo copy of the fixture into docker-registry" "${SK[@]}" copy --quiet --dest-tls-verify=false \
  "oci:$T/src:v1" "docker://$H/sk/app:v1"
out=$(wf "$R1" --quiet pull "$H/sk/app:v1" 2>"$T/err")
is "wharf pull from docker-registry" "$out" "$D1"

# ---- wharf push -> docker-registry -> skopeo pull ------------------------------------
check "wharf tag" wf "$R1" tag "$H/sk/app:v1" "$H/wf/app:v1"
out=$(wf "$R1" push "$H/wf/app:v1" 2>"$T/err")
like "wharf push to docker-registry" "$out" "digest: $D1"
"${SK[@]}" inspect --raw --tls-verify=false "docker://$H/wf/app:v1" >"$T/raw" 2>"$T/err"
is "skopeo sees the same manifest bytes" "$(wh_digest "$T/raw")" "$D1"
check "skopeo copy back out of docker-registry" "${SK[@]}" copy --quiet --src-tls-verify=false \
  "docker://$H/wf/app:v1" "oci:$T/back:v1"
ALLOK=0
for d in $(blob_list "$T/src" "$D1"); do
  f=$T/back/blobs/sha256/${d#sha256:}
  [[ -f $f && $(wh_digest "$f") == "$d" ]] || { ALLOK=1; diag "missing or wrong: $d"; }
done
is "every blob came back identical" "$ALLOK" 0
wf "$R1" push "$H/wf/app:v1" >/dev/null 2>"$T/err"
is "a second push uploads nothing" "$(grep -c '^pushed' "$T/err")" 0

# ---- a multi-platform index --------------------------------------------------------------
DM=$(mk_fixture -p -t multi "$T/multi" 3000)
check "skopeo copy --all of an index into docker-registry" "${SK[@]}" copy --quiet --all \
  --dest-tls-verify=false "oci:$T/multi:multi" "docker://$H/sk/multi:1"
check "wharf pull linux/amd64" wf "$R1" pull --platform linux/amd64 "$H/sk/multi:1"
check "wharf pull linux/arm64" wf "$R1" pull --platform linux/arm64 "$H/sk/multi:1"
check "wharf tag the index" wf "$R1" tag "$H/sk/multi:1" "$H/wf/multi:1"
check "wharf push the index" wf "$R1" push "$H/wf/multi:1"
"${SK[@]}" inspect --raw --tls-verify=false "docker://$H/wf/multi:1" >"$T/raw" 2>"$T/err"
is "skopeo sees the same index" "$(wh_digest "$T/raw")" "$DM"

# ---- Docker schema 2 ------------------------------------------------------------------------
check "skopeo converts the fixture to Docker schema 2" "${SK[@]}" copy --quiet --format v2s2 \
  --dest-tls-verify=false "oci:$T/src:v1" "docker://$H/sk/docker:v1"
"${SK[@]}" inspect --raw --tls-verify=false "docker://$H/sk/docker:v1" >"$T/draw" 2>"$T/err"
DD=$(wh_digest "$T/draw")
is "it is a Docker manifest" "$(jq -r .mediaType "$T/draw")" "$MT_DOCKER_MANIFEST"
out=$(wf "$R1" --quiet pull "$H/sk/docker:v1" 2>"$T/err")
is "wharf pull of the Docker image" "$out" "$DD"
check "wharf tag + push it elsewhere" wf "$R1" tag "$H/sk/docker:v1" "$H/wf/docker:v1"
check "wharf push of the Docker image" wf "$R1" push "$H/wf/docker:v1"
"${SK[@]}" inspect --raw --tls-verify=false "docker://$H/wf/docker:v1" >"$T/raw" 2>"$T/err"
is "re-pushed unchanged" "$(wh_digest "$T/raw")" "$DD"
dr_stop

# ---- htpasswd auth ---------------------------------------------------------------------------------
if ! command -v htpasswd >/dev/null; then
  skip "login/logout against docker-registry with htpasswd" "htpasswd is not installed (apache2-utils)"
  wh_done
fi
H0=$H
htpasswd -Bbn alice 's3cr:et' >"$T/htpasswd" 2>/dev/null
dr_start -a "$T/htpasswd" || wh_done
H=$DR_HOST
check "tag the image for the protected registry" wf "$R1" tag "$H0/sk/app:v1" "$H/team/app:v1"
wf "$R1" push "$H/team/app:v1" >/dev/null 2>"$T/err"
is "push without credentials exits 4" "$?" 4
like "saying authentication is required" "$(tail -n 1 "$T/err")" "authentication required"
wf "$R1" login -u alice -p wrong "$H" >/dev/null 2>"$T/err"
is "login with a wrong password exits 4" "$?" 4
pass_if "and saves nothing" "$([[ ! -e $WHARF_CONFIG ]]; echo $?)"
printf 's3cr:et\n' | wf "$R1" login -u alice --password-stdin "$H" >/dev/null 2>"$T/err"
is "login --password-stdin" "$?" 0
is "the config file is mode 0600" "$(stat -c %a "$WHARF_CONFIG" 2>&1)" 600
is "it holds docker's base64 user:password" \
  "$(jq -r --arg h "$H" '.auths[$h].auth' "$WHARF_CONFIG" | base64 -d 2>&1)" "alice:s3cr:et"
out=$(wf "$R1" push "$H/team/app:v1" 2>"$T/err")
like "push with the saved credentials" "$out" "digest: $D1"
R2=$(wf_root)
out=$(wf "$R2" --quiet pull "$H/team/app:v1" 2>"$T/err")
is "pull with the saved credentials" "$out" "$D1"
check "logout" wf "$R1" logout "$H"
is "the entry is gone" "$(jq -r '.auths | length' "$WHARF_CONFIG" 2>&1)" 0
wf "$(wf_root)" pull "$H/team/app:v1" >/dev/null 2>"$T/err"
is "pull after logout exits 4" "$?" 4
wf "$R1" logout "$H" >/dev/null 2>&1
is "a second logout exits 3" "$?" 3
mkdir -p "$DOCKER_CONFIG"
printf '{"auths":{"http://%s":{"auth":"%s"}}}\n' "$H" "$(printf 'alice:s3cr:et' | base64)" >"$DOCKER_CONFIG/config.json"
out=$(wf "$(wf_root)" --quiet pull "$H/team/app:v1" 2>"$T/err")
is "credentials are read from docker's config.json" "$out" "$D1"
dr_stop

wh_done
