#!/bin/bash
# tests/bench/mkoci.sh: add synthetic images to an OCI image layout, for the benchmarks.
#
#   mkoci.sh DIR TAG NLAYERS LAYER_BYTES [COUNT]
#
# Creates DIR as an OCI image layout if needed and adds one image tagged TAG (or COUNT
# distinct images tagged TAG-1 .. TAG-COUNT). Each image has NLAYERS layers of LAYER_BYTES
# random bytes wrapped in a gzip stream, a config whose rootfs.diff_ids are the digests of
# the uncompressed bytes, and an OCI image manifest.
#
# Invariants: every blob is stored under blobs/sha256/<hex of its content>; layers are
# valid gzip (stored blocks for big layers, so they cost no compression time) and skopeo
# pushes them unchanged (--preserve-digests holds); index.json keeps one entry per tag.
# Layers are not tar archives: a registry never looks inside them. (The tests'
# tests/fixtures/mkoci.sh writes real tar layers, one image per layout; this one makes
# hundreds of images per layout and 128 MiB layers in well under a second each.)
# Needs: bash, coreutils, gzip, jq; python3 for layers of 1 MiB or more.
set -euo pipefail

usage() { echo "usage: mkoci.sh DIR TAG NLAYERS LAYER_BYTES [COUNT]" >&2; exit 2; }
[[ $# -ge 4 && $# -le 5 ]] || usage
DIR=$1 TAG=$2 NLAYERS=$3 LAYER_BYTES=$4 COUNT=${5:-1}
[[ $NLAYERS =~ ^[0-9]+$ && $LAYER_BYTES =~ ^[0-9]+$ && $COUNT =~ ^[1-9][0-9]*$ ]] || usage
[[ $TAG =~ ^[A-Za-z0-9_][A-Za-z0-9._-]{0,100}$ ]] || { echo "mkoci.sh: bad tag \"$TAG\"" >&2; exit 2; }

MT_MANIFEST=application/vnd.oci.image.manifest.v1+json
MT_CONFIG=application/vnd.oci.image.config.v1+json
MT_LAYER=application/vnd.oci.image.layer.v1.tar+gzip

mkdir -p "$DIR/blobs/sha256"
[[ -f $DIR/oci-layout ]] || printf '{"imageLayoutVersion":"1.0.0"}' >"$DIR/oci-layout"
[[ -f $DIR/index.json ]] || printf '{"schemaVersion":2,"manifests":[]}' >"$DIR/index.json"
WORK=$(mktemp -d "$DIR/.mkoci.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# layer_py: one big layer in one pass (random bytes, both digests, gzip stored blocks);
# prints "<diff_id> <digest> <size>".
layer_py() {
	python3 - "$LAYER_BYTES" "$DIR/blobs/sha256" "$WORK/layer" <<'PY'
import hashlib, os, sys, zlib
left, blobs, tmp = int(sys.argv[1]), sys.argv[2], sys.argv[3]
raw, gz = hashlib.sha256(), hashlib.sha256()
c = zlib.compressobj(0, zlib.DEFLATED, 31)
size = 0
with open(tmp, "wb") as o:
    def put(b):
        global size
        gz.update(b)
        o.write(b)
        size += len(b)
    while left > 0:
        b = os.urandom(min(left, 1 << 20))
        left -= len(b)
        raw.update(b)
        put(c.compress(b))
    put(c.flush())
os.replace(tmp, os.path.join(blobs, gz.hexdigest()))
print("sha256:" + raw.hexdigest(), "sha256:" + gz.hexdigest(), size)
PY
}

# store FILE: move FILE into the blob store; prints "sha256:<hex> <size>".
store() {
	local hex size
	hex=$(sha256sum "$1" | cut -d' ' -f1)
	size=$(stat -c %s "$1")
	mv -f "$1" "$DIR/blobs/sha256/$hex"
	echo "sha256:$hex $size"
}

# layer_sh: one small layer with coreutils + gzip; same output as layer_py.
layer_sh() {
	local diff
	head -c "$LAYER_BYTES" /dev/urandom >"$WORK/raw"
	diff=sha256:$(sha256sum "$WORK/raw" | cut -d' ' -f1)
	gzip -n -1 -c "$WORK/raw" >"$WORK/layer"
	rm -f "$WORK/raw"
	echo "$diff $(store "$WORK/layer")"
}

# one_image TAG: writes the image's blobs, prints "<digest>\t<size>\t<tag>" of its
# manifest. Digests, sizes and media types are [a-z0-9.+/:-] only, so printf builds
# valid JSON here; the tag goes through jq, in the final index rewrite.
one_image() {
	local tag=$1 i diff dig size cfg layers="" diffs="" sep=""
	for ((i = 0; i < NLAYERS; i++)); do
		if [[ $LAYER_BYTES -ge 1048576 ]]; then
			read -r diff dig size < <(layer_py)
		else
			read -r diff dig size < <(layer_sh)
		fi
		layers+=$(printf '%s{"mediaType":"%s","digest":"%s","size":%s}' \
			"$sep" "$MT_LAYER" "$dig" "$size")
		diffs+="$sep\"$diff\""
		sep=,
	done
	# A per-image nonce keeps configs distinct even for layerless images.
	printf '{"architecture":"amd64","os":"linux","config":{"Labels":{"bench.nonce":"%s"}},' \
		"$SRANDOM$SRANDOM" >"$WORK/config"
	printf '"rootfs":{"type":"layers","diff_ids":[%s]}}' "$diffs" >>"$WORK/config"
	read -r cfg size < <(store "$WORK/config")
	printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"%s","size":%s},"layers":[%s]}' \
		"$MT_MANIFEST" "$MT_CONFIG" "$cfg" "$size" "$layers" >"$WORK/manifest"
	read -r dig size < <(store "$WORK/manifest")
	printf '%s\t%s\t%s\n' "$dig" "$size" "$tag"
}

: >"$WORK/entries"
if [[ $COUNT -eq 1 ]]; then
	one_image "$TAG" >>"$WORK/entries"
else
	for ((n = 1; n <= COUNT; n++)); do one_image "$TAG-$n" >>"$WORK/entries"; done
fi

# Replace entries with the same tags, then append the new ones, in one rewrite.
jq -R --arg mt "$MT_MANIFEST" 'split("\t") | {mediaType: $mt, digest: .[0],
	size: (.[1] | tonumber), annotations: {"org.opencontainers.image.ref.name": .[2]}}' \
	"$WORK/entries" >"$WORK/entries.json"
jq -c --slurpfile new "$WORK/entries.json" '
	($new | map(.annotations["org.opencontainers.image.ref.name"])) as $tags
	| .manifests |= (map(select(.annotations["org.opencontainers.image.ref.name"]
				     as $t | ($tags | index([$t])) == null)) + $new)' \
	"$DIR/index.json" >"$WORK/index.json"
mv -f "$WORK/index.json" "$DIR/index.json"
