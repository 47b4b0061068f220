#!/bin/bash
# tests/integration/run_fixture.sh - the busybox base image of the `wharf
# run` tests (tests/fixtures/mkbusybox.sh): it builds offline from Debian's
# busybox-static, twice with the same digests; each layer compression
# (gzip, zstd, none) loads with `wharf load`; `wharf images` lists it and
# `wharf inspect` shows its config (Cmd ["sh"], WorkingDir, PATH); the layer
# holds /bin/sh -> /bin/busybox, /etc/passwd with app 1000, /tmp 1777 and
# /home/app owned by 1000; skopeo accepts the layout (oci:DIR:REF).
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
. "${BASH_SOURCE%/*}/client_lib.sh"
MKBB=${TOP_SRCDIR:-${BASH_SOURCE%/*}/../..}/tests/fixtures/mkbusybox.sh
if [[ ! -x /bin/busybox ]] || ! command -v zstd >/dev/null; then
  skip "busybox fixture" "busybox-static or zstd is not installed (deploy/install-deps --test)"
  wh_done
fi
T=$WH_TMP

D1=$(bash "$MKBB" "$T/bb1" 2>"$T/err")
is "mkbusybox.sh builds a layout" "$?:${D1:0:7}" "0:sha256:"
D2=$(bash "$MKBB" "$T/bb2" 2>&1)
is "a second build has the same digest" "$D2" "$D1"
is "and the same blobs" "$(ls "$T/bb2/blobs/sha256" | tr '\n' ' ')" "$(ls "$T/bb1/blobs/sha256" | tr '\n' ' ')"
is "index.json names it busybox:latest" \
  "$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' "$T/bb1/index.json")" "busybox:latest"

M=$T/bb1/blobs/sha256/${D1#sha256:}
L=$T/bb1/blobs/sha256/$(jq -r '.layers[0].digest' "$M" | cut -d: -f2)
is "one gzip layer" "$(jq -r '[.layers[].mediaType] | join(",")' "$M")" \
  application/vnd.oci.image.layer.v1.tar+gzip
tar -tvzf "$L" >"$T/list" 2>&1
like "the layer holds /bin/sh -> /bin/busybox" "$(grep ' \./bin/sh ' "$T/list")" '^l.* 0/0 .*-> /bin/busybox$'
like "a static busybox" "$(grep ' \./bin/busybox$' "$T/list")" '^-rwxr-xr-x 0/0 '
like "/tmp is 1777" "$(grep ' \./tmp/$' "$T/list")" '^drwxrwxrwt 0/0 '
like "/home/app belongs to 1000:1000" "$(grep ' \./home/app/$' "$T/list")" '^drwxr-xr-x 1000/1000 '
is "/etc/passwd has root, nobody and app" \
  "$(tar -xzOf "$L" ./etc/passwd | cut -d: -f1,3,4 | tr '\n' ' ')" "root:0:0 nobody:65534:65534 app:1000:1000 "
is "every applet is a symlink to busybox" \
  "$(grep -c -- '-> /bin/busybox$' "$T/list")" "$(( $(/bin/busybox --list-full | grep -c /) - 1 ))"

if command -v skopeo >/dev/null; then
  sk=$(timeout 60 skopeo --tmpdir "$T" inspect "oci:$T/bb1:busybox:latest" 2>&1)
  is "skopeo inspect accepts the layout" "$?:$(jq -r .Digest <<<"$sk" 2>&1)" "0:$D1"
else
  skip "skopeo inspect accepts the layout" "skopeo is not installed"
fi

R=$(wf_root)
wh_add_root "$R"
check "wharf load -i of the layout" wf "$R" load -i "$T/bb1"
like "wharf images lists busybox:latest" "$(wf "$R" images --format json 2>&1 |
  jq -r '.[] | "\(.repository):\(.tag) \(.digest)"' 2>&1)" "busybox:latest $D1"
wf "$R" inspect busybox:latest >"$T/inspect" 2>&1
is "wharf inspect shows Cmd [\"sh\"]" "$(jq -c .config.config.Cmd "$T/inspect" 2>&1)" '["sh"]'
is "and WorkingDir /" "$(jq -r .config.config.WorkingDir "$T/inspect" 2>&1)" "/"
like "and PATH" "$(jq -r '.config.config.Env[]' "$T/inspect" 2>&1)" '^PATH=.*/bin'

for c in zstd none; do
  d=$(bash "$MKBB" "$T/bb-$c" --layer-compression "$c" --name "busybox:$c" 2>&1)
  is "--layer-compression $c builds" "$?:${d:0:7}" "0:sha256:"
  check "and wharf load takes it" wf "$R" load -i "$T/bb-$c"
  is "wharf inspect busybox:$c shows its digest" "$(wf "$R" inspect "busybox:$c" 2>&1 | jq -r .digest 2>&1)" "$d"
done
bash "$MKBB" "$T/bad" --layer-compression lz4 >/dev/null 2>&1
is "an unknown compression is a usage error" "$?" 2
wh_done
