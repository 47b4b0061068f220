#!/bin/bash
# tests/integration/podman.sh - wharfd driven by podman: load an offline OCI
# fixture into a private podman store, push it to wharfd, check what wharfd
# holds (config digest, layers whose uncompressed digests are the config's
# diff_ids), pull it back into a fresh store and compare image ID and
# manifest digest. Podman runs with its own root, runroot, vfs driver,
# registries.conf and policy: the host's configuration is never used.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
MKOCI=${BASH_SOURCE%/*}/../fixtures/mkoci.sh
if ! command -v podman >/dev/null; then
  skip "podman tests" "podman is not installed (deploy/install-deps --test installs it)"
  wh_done
fi
wh_start || wh_done
wh_containers_env
T=$WH_TMP
C=$T/ctr
# pm STORE ARGS...: podman on a private store
pm() {
  local s=$1
  shift
  timeout 180 podman --root "$C/$s/root" --runroot "$C/$s/run" --storage-driver vfs \
    --cgroup-manager cgroupfs --events-backend file --tmpdir "$C/$s/tmp" "$@"
}
mkdir -p "$C/a/tmp" "$C/b/tmp"
IMG=$WH_HOST/pm/app

D1=$(bash "$MKOCI" -t v1 "$T/src" 2048 300000)
check "fixture: mkoci.sh writes a 2-layer OCI layout" test -n "$D1"
MF=$T/src/blobs/sha256/${D1#sha256:}
CFG=$(jq -r .config.digest "$MF")
ID=$(pm a pull --signature-policy "$WH_POLICY" "oci:$T/src:v1" 2>"$T/pull.err" | tail -n 1)
is "podman pull oci: loads the fixture; image ID is its config digest" "$ID" "${CFG#sha256:}" \
  "$(tail -n 5 "$T/pull.err")"
check "podman tag" pm a tag "$ID" "$IMG:v1"
check "podman push to wharfd" pm a push --signature-policy "$WH_POLICY" --tls-verify=false \
  --digestfile "$T/pushed" "$IMG:v1"
PD=$(cat "$T/pushed" 2>/dev/null)
like "podman reports a pushed digest" "$PD" '^sha256:[0-9a-f]{64}$'
wh_req GET /v2/pm/app/manifests/v1 -H "Accept: $MT_OCI_MANIFEST, $MT_DOCKER_MANIFEST"
expect "wharfd has the pushed tag" 200
expect_hdr "wharfd's digest for the tag is the one podman pushed" Docker-Content-Digest "^$PD\$"
is "the manifest bytes hash to that digest" "$(wh_digest "$H_BODY")" "$PD"
cp "$H_BODY" "$T/pushed.manifest"
is "the pushed config is the fixture's config" "$(jq -r .config.digest "$T/pushed.manifest" 2>&1)" "$CFG"
wh_req GET "/v2/pm/app/blobs/$CFG"
check "wharfd serves the config byte for byte" cmp -s "$H_BODY" "$T/src/blobs/sha256/${CFG#sha256:}"
WANT=$(jq -r '.rootfs.diff_ids | join(" ")' "$T/src/blobs/sha256/${CFG#sha256:}")
GOT=""
for d in $(jq -r '.layers[].digest' "$T/pushed.manifest"); do
  wh_req GET "/v2/pm/app/blobs/$d"
  [[ $(wh_digest "$H_BODY") == "$d" ]] || GOT="$GOT bad-digest:$d"
  GOT="$GOT $(gzip -dc <"$H_BODY" | sha256sum | sed 's/ .*//; s/^/sha256:/')"
done
is "the layers in wharfd unpack to the config's diff_ids" "$(echo $GOT)" "$WANT"

check "podman push of the same image again (blobs already there)" \
  pm a push --signature-policy "$WH_POLICY" --tls-verify=false "$IMG:v1"
check "podman push to a second repository" \
  pm a push --signature-policy "$WH_POLICY" --tls-verify=false "$IMG:v1" "$WH_HOST/pm/copy:latest"
wh_req HEAD /v2/pm/copy/manifests/latest -H "Accept: $MT_OCI_MANIFEST, $MT_DOCKER_MANIFEST"
expect "the second repository has the image" 200

check "podman pull from wharfd into a fresh store" \
  pm b pull --signature-policy "$WH_POLICY" --tls-verify=false "$IMG:v1"
is "pulled image ID is the fixture's config digest" "$(pm b image inspect --format '{{.Id}}' "$IMG:v1" 2>&1)" \
  "${CFG#sha256:}"
is "pulled image digest is the pushed manifest digest" "$(pm b image inspect --format '{{.Digest}}' "$IMG:v1" 2>&1)" "$PD"
check "podman pull by digest" pm b pull --signature-policy "$WH_POLICY" --tls-verify=false "$IMG@$PD"
pm b rmi -a -f >/dev/null 2>&1
check "podman pull of the second repository" \
  pm b pull --signature-policy "$WH_POLICY" --tls-verify=false "$WH_HOST/pm/copy:latest"
is "... gives the same image" "$(pm b image inspect --format '{{.Id}}' "$WH_HOST/pm/copy:latest" 2>&1)" "${CFG#sha256:}"
pm b pull --signature-policy "$WH_POLICY" --tls-verify=false "$IMG:nosuchtag" >"$T/nf.out" 2>&1
is "podman pull of an unknown tag fails" "$?" 125
pm a rmi -a -f >/dev/null 2>&1
pm b rmi -a -f >/dev/null 2>&1

wh_done
