#!/bin/bash
# tests/integration/client_layout.sh - `wharf save` and `wharf load`: OCI
# image layouts as a directory, a tar file, a tar on stdout/stdin and a
# gzip'd tar; skopeo reads what wharf saved (oci: and oci-archive:, one
# image and a two-platform index); a layout made by tests/fixtures/mkoci.sh
# loads (its bare-tag names need a REPOSITORY); round trips keep every
# digest; and hostile layouts are refused with nothing stored: a tar entry
# climbing out with ".." or an absolute name, a corrupted or truncated
# blob, a symlinked blob, a blob entry that is a symlink, an oversized
# index.json, a save onto a non-empty directory.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
. "${BASH_SOURCE%/*}/client_lib.sh"
if ! command -v skopeo >/dev/null || ! command -v python3 >/dev/null; then
  skip "wharf save/load" "skopeo or python3 is not installed (deploy/install-deps --test)"
  wh_done
fi
wh_start || wh_done
wh_containers_env
T=$WH_TMP
H=$WH_HOST
SK=(timeout 120 skopeo --policy "$WH_POLICY" --tmpdir "$TMPDIR")
R=$(wf_root)
wh_add_root "$R"

# layout_ok DIR: every blob file hashes to its name
layout_ok() {
  local f bad=0
  for f in "$1"/blobs/sha256/*; do
    [[ sha256:${f##*/} == "$(wh_digest "$f")" ]] || { bad=1; diag "bad blob $f"; }
  done
  return $bad
}
# images_of ROOT: "repo:tag digest" lines of a store, sorted
images_of() { wf "$1" images --format json | jq -r '.[] | "\(.repository):\(.tag) \(.digest)"' | sort; }

D1=$(mk_fixture -t v1 "$T/src" 1024 300000)
DM=$(mk_fixture -p -t multi "$T/multi" 2000 4000)
check "skopeo copy of an image into wharfd" "${SK[@]}" copy --quiet --dest-tls-verify=false \
  "oci:$T/src:v1" "docker://$H/sk/app:v1"
check "skopeo copy --all of an index into wharfd" "${SK[@]}" copy --quiet --all --dest-tls-verify=false \
  "oci:$T/multi:multi" "docker://$H/sk/multi:1"
check "wharf pull of the image" wf "$R" pull "$H/sk/app:v1"
check "wharf pull of the index, amd64" wf "$R" pull --platform linux/amd64 "$H/sk/multi:1"
check "and arm64" wf "$R" pull --platform linux/arm64 "$H/sk/multi:1"

# ---- save -----------------------------------------------------------------------------------------
check "wharf save to a directory" wf "$R" save -o "$T/out1" "$H/sk/app:v1" "$H/sk/multi:1"
is "oci-layout" "$(jq -r .imageLayoutVersion "$T/out1/oci-layout" 2>&1)" 1.0.0
is "index.json names both with their full references" \
  "$(jq -r '[.manifests[] | "\(.annotations["org.opencontainers.image.ref.name"]) \(.digest)"] | join(",")' \
    "$T/out1/index.json" 2>&1)" "$H/sk/app:v1 $D1,$H/sk/multi:1 $DM"
layout_ok "$T/out1"
pass_if "every blob file hashes to its name" "$?"
is "nothing else was left next to it" "$(ls -A "$T" | grep -c '\.tmp-')" 0
check "skopeo copies an image out of the saved directory" "${SK[@]}" copy --quiet --dest-tls-verify=false \
  "oci:$T/out1:$H/sk/app:v1" "docker://$H/fromsave/app:1"
wh_req GET "/v2/fromsave/app/manifests/1" -H "Accept: $MT_OCI_MANIFEST"
is "with the same digest" "$(wh_digest "$H_BODY")" "$D1"
check "skopeo copy --all of the saved index" "${SK[@]}" copy --quiet --all --dest-tls-verify=false \
  "oci:$T/out1:$H/sk/multi:1" "docker://$H/fromsave/multi:1"
wh_req GET "/v2/fromsave/multi/manifests/1" -H "Accept: $MT_OCI_INDEX"
is "the index keeps its digest" "$(wh_digest "$H_BODY")" "$DM"
check "wharf save to a tar file" wf "$R" save -o "$T/out2.tar" "$H/sk/app:v1"
check "skopeo copies from the saved tar (oci-archive:)" "${SK[@]}" copy --quiet --dest-tls-verify=false \
  "oci-archive:$T/out2.tar:$H/sk/app:v1" "docker://$H/fromsave/tar:1"
wf "$R" save -o - "$H/sk/multi:1" >"$T/out3.tar" 2>"$T/err"
is "wharf save -o - writes a tar on stdout" "$?:$(tar tf "$T/out3.tar" | head -n 2 | tr '\n' ' ')" \
  "0:oci-layout index.json "
mkdir "$T/full" && touch "$T/full/x"
wf "$R" save -o "$T/full" "$H/sk/app:v1" >/dev/null 2>"$T/err"
is "save onto a non-empty directory is refused" "$?:$(ls -A "$T/full")" "1:x"

# ---- load --------------------------------------------------------------------------------------
R2=$(wf_root)
wh_add_root "$R2"
check "wharf load of the saved directory" wf "$R2" load -i "$T/out1"
is "the same images, same digests" "$(images_of "$R2")" "$(images_of "$R")"
check "both platforms of the index came along" wf "$R2" inspect --platform linux/arm64 "$H/sk/multi:1"
R3=$(wf_root)
wh_add_root "$R3"
out=$(wf "$R3" --quiet load -i "$T/out2.tar" 2>&1)
is "wharf load of the saved tar" "$out" "$D1"
out=$(wf "$R3" --quiet load -i - <"$T/out3.tar" 2>&1)
is "wharf load -i - (stdin)" "$out" "$DM"
gzip -c "$T/out2.tar" >"$T/out2.tar.gz"
out=$(wf "$(wf_root)" --quiet load -i "$T/out2.tar.gz" 2>&1)
is "a gzip'd tar loads too" "$out" "$D1"
is "the tar's staging repository is not listed" "$(wf "$R3" images --format json | jq -r '.[].repository' | sort -u | tr '\n' ' ')" \
  "$H/sk/app $H/sk/multi "
like "prune afterwards removes nothing the images use" "$(wf "$R3" prune --grace 0 2>/dev/null)" "^removed 0 blobs"
check "every loaded blob still reads back (save again)" wf "$R3" save -o "$T/again" "$H/sk/app:v1" "$H/sk/multi:1"

R4=$(wf_root)
wh_add_root "$R4"
wf "$R4" load -i "$T/src" >/dev/null 2>"$T/err"
is "a mkoci layout named with a bare tag needs a REPOSITORY (exit 1)" "$?" 1
like "and says so" "$(cat "$T/err")" 'named only "v1" \(a tag\): give a REPOSITORY'
out=$(wf "$R4" load -i "$T/src" localhost/fixture 2>&1)
is "wharf load of the mkoci layout into localhost/fixture" "$out" "loaded localhost/fixture:v1: $D1"
is "inspect --raw gives the fixture's manifest bytes" "$(wf "$R4" inspect --raw localhost/fixture:v1 | wh_digest /dev/stdin)" \
  "$D1"
out=$(wf "$R4" --quiet load -i "$T/multi" localhost/fixture 2>&1)
is "the mkoci index loads too" "$out" "$DM"

# ---- hostile layouts ------------------------------------------------------------------------------
# mktar OUT SPEC...: a tar made by python3; SPEC is NAME=FILE (a file's
# bytes), NAME@TARGET (a symlink) or NAME (a small file)
mktar() {
  python3 - "$@" <<'EOF'
import io, sys, tarfile
out, specs = sys.argv[1], sys.argv[2:]
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    for s in specs:
        if "@" in s:
            name, target = s.split("@", 1)
            i = tarfile.TarInfo(name); i.type = tarfile.SYMTYPE; i.linkname = target
            t.addfile(i)
        elif "=" in s:
            name, path = s.split("=", 1)
            t.add(path, arcname=name)
        else:
            data = b"evil\n"
            i = tarfile.TarInfo(s); i.size = len(data)
            t.addfile(i, io.BytesIO(data))
EOF
}
B=$T/out1/blobs/sha256
OKFILES=("oci-layout=$T/out2.tar.d/oci-layout" "index.json=$T/out2.tar.d/index.json")
mkdir -p "$T/out2.tar.d" && tar xf "$T/out2.tar" -C "$T/out2.tar.d"
for spec in "../evil" "blobs/../../evil" "/abs-evil"; do
  mktar "$T/bad.tar" "${OKFILES[@]}" "$spec"
  RB=$(wf_root)
  wh_add_root "$RB"
  wf "$RB" load -i "$T/bad.tar" >/dev/null 2>"$T/err"
  st=$?
  like "a tar entry \"$spec\" is refused" "$st:$(cat "$T/err")" "^4:.*(climbs out|absolute name)"
  is "and nothing is listed" "$(wf "$RB" images --format json | jq length)" 0
done
pass_if "nothing was written outside" "$([[ ! -e $T/evil && ! -e /abs-evil ]]; echo $?)"
L=$(jq -r '.layers[1].digest' "$B/${D1#sha256:}")
mktar "$T/bad.tar" "${OKFILES[@]}" "blobs/sha256/${L#sha256:}@/etc/passwd"
wf "$(wf_root)" load -i "$T/bad.tar" >/dev/null 2>"$T/err"
like "a blob entry that is a symlink is refused" "$?:$(cat "$T/err")" "^1:.*not a regular file"

cp -r "$T/out1" "$T/corrupt"
chmod u+w "$T/corrupt/blobs/sha256/${L#sha256:}"
printf 'XXXX' | dd of="$T/corrupt/blobs/sha256/${L#sha256:}" bs=1 seek=100 conv=notrunc 2>/dev/null
RB=$(wf_root)
wh_add_root "$RB"
wf "$RB" load -i "$T/corrupt" >/dev/null 2>"$T/err"
like "a corrupted layer: exit 6, named" "$?:$(tail -n 1 "$T/err")" "^6:.*blob $L: digest mismatch"
is "nothing is listed" "$(wf "$RB" images --format json | jq -r '[.[] | select(.repository | test("sk/app"))] | length')" 0
truncate -s 100 "$T/corrupt/blobs/sha256/${L#sha256:}"
wf "$RB" load -i "$T/corrupt" >/dev/null 2>"$T/err"
like "a truncated layer: exit 6" "$?:$(tail -n 1 "$T/err")" "^6:.*size mismatch"
rm -f "$T/corrupt/blobs/sha256/${L#sha256:}"
ln -s "$B/${L#sha256:}" "$T/corrupt/blobs/sha256/${L#sha256:}"
wf "$RB" load -i "$T/corrupt" >/dev/null 2>"$T/err"
like "a symlinked blob file is refused" "$?:$(tail -n 1 "$T/err")" "^1:.*blob $L"
mkdir -p "$T/huge"
cp "$T/out1/oci-layout" "$T/huge/"
head -c $((5 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$T/huge/index.json"
wf "$RB" load -i "$T/huge" >/dev/null 2>"$T/err"
like "an index.json over 4 MiB is refused" "$?:$(tail -n 1 "$T/err")" "^1:.*index.json"
printf '{"imageLayoutVersion":"2.0.0"}' >"$T/huge/oci-layout"
wf "$RB" load -i "$T/huge" >/dev/null 2>"$T/err"
like "an unknown layout version is refused" "$?:$(tail -n 1 "$T/err")" "^1:.*version"

wh_done
