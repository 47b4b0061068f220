#!/bin/bash
# tests/integration/client_nested.sh - an image index whose children include
# another index (T = [A linux/amd64, N], N = [B linux/arm64, C linux/ppc64le]),
# pushed to wharfd with curl:
#   - wharf copy --all wharfd -> docker-registry and back: every manifest
#     (T, N, A, B, C) byte for byte, every digest the same;
#   - wharf pull --platform: amd64 straight from T, ppc64le through N (N is
#     stored with the image, the tag names T);
#   - the whole tree loaded from an OCI layout, then wharf push: the
#     registry gets T, N and every image, digests preserved; a tree nested
#     one level deeper is refused with a clear message.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
. "${BASH_SOURCE%/*}/client_lib.sh"
T=$WH_TMP

wh_start || wh_done
W=$WH_HOST
declare -A MF
for x in A B C; do
  wh_push_image nest/app "img$x" 3000
  MF[$x]=$WH_MFILE
  cp "$WH_CFILE" "$T/cfg$x"
  cp "$WH_LFILE" "$T/layer$x"
done
pass_if "three images pushed with curl" "$([[ $H_CODE == 201 ]]; echo $?)"
wh_mk_index "$T/N" "${MF[B]}:$MT_OCI_MANIFEST:arm64" "${MF[C]}:$MT_OCI_MANIFEST:ppc64le"
ND=$(wh_digest "$T/N")
jq -cn --argjson a "$(wh_desc "$MT_OCI_MANIFEST" "${MF[A]}")" --argjson n "$(wh_desc "$MT_OCI_INDEX" "$T/N")" \
  '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [$a + {platform: {architecture: "amd64", os: "linux"}}, $n]}' >"$T/T"
TD=$(wh_digest "$T/T")
wh_manifest_push nest/app "$ND" "$T/N" && wh_manifest_push nest/app v1 "$T/T"
expect "an index holding an index pushed with curl" 201

# every manifest digest of the tree, "NAME DIGEST" per line
tree() {
  local x
  printf 'T %s\nN %s\n' "$TD" "$ND"
  for x in A B C; do printf '%s %s\n' "$x" "$(wh_digest "${MF[$x]}")"; done
}
# same_tree URL-BASE REPO: the registry serves every manifest of the tree byte for byte
same_tree() {
  local name d got bad=""
  while read -r name d; do
    got=$(curl -s -H "Accept: $MT_OCI_INDEX, $MT_OCI_MANIFEST" "$1/v2/$2/manifests/$d" | sha256sum | sed 's/ .*//')
    [[ sha256:$got == "$d" ]] || bad="$bad $name"
  done < <(tree)
  [[ -z $bad ]] || { echo "differs or missing:$bad"; return 1; }
}

# ---- copy ---------------------------------------------------------------------------------------
if command -v docker-registry >/dev/null && dr_start; then
  D=$DR_HOST
  R=$(wf_root)
  out=$(wf "$R" --quiet copy --all "$W/nest/app:v1" "$D/nest/app:v1" 2>"$T/err")
  is "copy --all of the nested index to docker-registry" "$out" "$TD"
  out=$(same_tree "http://$D" nest/app)
  pass_if "docker-registry has every manifest of the tree, byte for byte" "$?" "$out"
  out=$(wf "$R" --quiet copy --all "$D/nest/app:v1" "$W/nest/back:v1" 2>"$T/err")
  is "and back to wharfd" "$out" "$TD"
  out=$(same_tree "http://$W" nest/back)
  pass_if "wharfd has every manifest of the tree, byte for byte" "$?" "$out"
  SRC=$D/nest/app:v1
else
  skip "copy of a nested index to docker-registry" "docker-registry is not installed or did not start"
  SRC=$W/nest/app:v1
fi

# ---- pull -----------------------------------------------------------------------------------------
R=$(wf_root)
out=$(wf "$R" --quiet pull --platform linux/amd64 "$SRC" 2>"$T/err")
is "pull --platform linux/amd64: the tag names the top index" "$out" "$TD"
pass_if "with A's layer stored" "$([[ -f $R/blobs/sha256/$(wh_digest "$T/layerA" | cut -c8-9)/$(wh_digest "$T/layerA" | cut -c8-) ]]; echo $?)"
R=$(wf_root)
out=$(wf "$R" --quiet pull --platform linux/ppc64le "$SRC" 2>"$T/err")
is "pull --platform linux/ppc64le finds C through the nested index" "$out" "$TD"
out=$(wf "$R" inspect --platform linux/ppc64le --raw "$SRC" 2>"$T/err" | sha256sum | sed 's/ .*//')
is "the top index is stored as it was" "sha256:$out" "$TD"
out=$(wf "$R" --quiet pull --platform linux/s390x "$SRC" 2>"$T/err")
like "a platform in neither index: not found (exit 3)" "$?:$(tail -n 1 "$T/err")" \
  '^3:.*no manifest for platform linux/s390x'

# ---- a whole tree from an OCI layout, pushed ---------------------------------------------------------
L=$T/layout
mkdir -p "$L/blobs/sha256"
for f in "$T/T" "$T/N" "${MF[A]}" "${MF[B]}" "${MF[C]}" "$T"/cfg? "$T"/layer?; do
  cp "$f" "$L/blobs/sha256/$(wh_digest "$f" | cut -c8-)"
done
printf '{"imageLayoutVersion": "1.0.0"}\n' >"$L/oci-layout"
jq -cn --argjson t "$(wh_desc "$MT_OCI_INDEX" "$T/T")" \
  '{schemaVersion: 2, manifests: [$t + {annotations: {"org.opencontainers.image.ref.name": "v1"}}]}' >"$L/index.json"
R=$(wf_root)
check "wharf load of the layout" wf "$R" load -i "$L" "$W/nest/pushed"
out=$(wf "$R" --quiet push "$W/nest/pushed:v1" 2>"$T/err")
is "push of the nested index" "$out" "$TD"
out=$(same_tree "http://$W" nest/pushed)
pass_if "wharfd has every manifest of the tree, byte for byte" "$?" "$out"

# one level deeper: U = [T]
jq -cn --argjson t "$(wh_desc "$MT_OCI_INDEX" "$T/T")" \
  '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [$t]}' >"$T/U"
wh_manifest_push nest/app deep "$T/U"
expect "an index three levels deep pushed with curl" 201
wf "$(wf_root)" copy --all "$W/nest/app:deep" "$W/nest/deep:v1" >/dev/null 2>"$T/err"
like "copy --all refuses indexes nested deeper than one level" "$?:$(tail -n 1 "$T/err")" \
  '^1:.*indexes nested too deep'

wh_done
