#!/bin/bash
# tests/integration/diskfull.sh - wharfd on a full disk: the store root is a
# small tmpfs mounted by the test (as root; skipped otherwise). A push past
# its size fails with a clear error (507 "registry storage is full") and
# leaves nothing behind; what was pushed before is intact and pullable;
# the space comes back and pushes work again; fsck is clean. The tmpfs is
# unmounted at exit, whatever the exit path.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
T=$WH_TMP
DISK=$T/disk

disk_cleanup() {
  [[ $BASHPID == "$$" ]] || return 0
  mountpoint -q "$DISK" 2>/dev/null && umount -l "$DISK"
  wh_cleanup
}
trap disk_cleanup EXIT

if [[ $(id -u) != 0 ]]; then
  skip "push to a full disk" "needs root to mount a tmpfs"
  wh_done
fi
mkdir -p "$DISK"
if ! mount -t tmpfs -o size=8m,mode=0700 tmpfs "$DISK" 2>"$T/mount.err"; then
  skip "push to a full disk" "cannot mount a tmpfs: $(head -c 200 "$T/mount.err")"
  wh_done
fi
ok "an 8 MiB tmpfs is mounted as the store's disk"

wh_start -r "$DISK/root" || wh_done
wh_push_image small/app v1 65536
expect "an image that fits is pushed" 201
M1=$WH_MDIGEST C1=$WH_CFILE L1=$WH_LFILE

wh_rand "$T/huge" $((12 * 1024 * 1024))
wh_blob_push_single big/x "$T/huge"
expect_err "a monolithic push past the disk's size fails" 507 DENIED
like "... with a clear message" "$(jq -r '.errors[0].message' <"$H_BODY" 2>/dev/null)" 'storage is full'

wh_upload_start big/y
LOC=$WH_LOC
head -c $((10 * 1024 * 1024)) "$T/huge" >"$T/chunk"
wh_req PATCH "$LOC" -H 'Content-Type: application/octet-stream' --data-binary "@$T/chunk"
expect_err "a chunk past the disk's size fails" 507 DENIED
wh_req DELETE "$LOC"
expect "the failed session can be cancelled (space freed)" 204
is "no upload file is left behind" "$(find "$DISK/root/uploads" -type f | wc -l)" 0

is "the earlier manifest is intact" "$(wh_get_digest "/v2/small/app/manifests/v1" -H "Accept: $MT_OCI_MANIFEST")" "$M1"
is "the earlier layer is intact" "$(wh_get_digest "/v2/small/app/blobs/$(wh_digest "$L1")")" "$(wh_digest "$L1")"
is "the earlier config is intact" "$(wh_get_digest "/v2/small/app/blobs/$(wh_digest "$C1")")" "$(wh_digest "$C1")"
wh_push_image small/app v2 65536
expect "once the failed bytes are gone, pushes work again" 201

out=$(wh_fsck "$DISK/root")
is "fsck is clean while the disk is nearly full" "$?" 0
wh_done
