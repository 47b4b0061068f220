#!/bin/bash
# tests/integration/client_progress.sh - what wharf prints while it moves
# blobs:
#   - not a terminal: one "downloading|uploading sha256:HEX (SIZE)" line
#     when a blob's bytes start moving and one "pulled|pushed ..." line when
#     it is done, in that order; a blob skipped gets one "exists" (pull,
#     push) or "mounted" (push) line; then the result on stdout;
#   - --quiet: nothing on stderr, only the digest on stdout;
#   - a terminal (util-linux script): lines redrawn in place (cursor up,
#     erase line) with bytes, a rate and the final state word.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
. "${BASH_SOURCE%/*}/client_lib.sh"
T=$WH_TMP
BLOB='sha256:[0-9a-f]{64} \([0-9.]+ (B|KiB|MiB)\)'

wh_start || wh_done
W=$WH_HOST
wh_rand "$T/l1" 400000
wh_rand "$T/l2" 3000000
wh_mk_config "$T/cfg" "$T/l1" "$T/l2"
wh_mk_manifest "$T/man" "$T/cfg" "$T/l1" "$T/l2"
wh_blob_push prog/app "$T/l1" && wh_blob_push prog/app "$T/l2" && wh_blob_push prog/app "$T/cfg" &&
  wh_manifest_push prog/app v1 "$T/man"
expect "an image of two layers pushed with curl" 201
MD=$(wh_digest "$T/man")

# order_ok FILE START DONE: every blob has a START line and then a DONE line, nothing else
order_ok() {
  awk -v s="$2" -v d="$3" '
    $1 == s { if (st[$2]) bad = 1; st[$2] = NR; next }
    $1 == d { if (!st[$2] || dn[$2]) bad = 1; dn[$2] = NR; next }
    { bad = 1 }
    END { n = 0; for (k in st) { n++; if (!dn[k]) bad = 1 } if (bad || n != 3) exit 1 }' "$1"
}

# ---- pull, not a terminal -------------------------------------------------------------------------
R=$(wf_root)
out=$(wf "$R" pull "$W/prog/app:v1" 2>"$T/err")
is "pull prints the result on stdout" "$out" "$W/prog/app:v1: $MD"
is "stderr: a downloading line per blob" "$(grep -cE "^downloading $BLOB$" "$T/err")" 3
is "and a pulled line per blob" "$(grep -cE "^pulled $BLOB$" "$T/err")" 3
order_ok "$T/err" downloading pulled
pass_if "each blob's downloading line comes before its pulled line, nothing else" "$?" "$(cat "$T/err")"
wf "$R" tag "$W/prog/app:v1" "$W/prog/app:v2"
wf "$R" rmi "$W/prog/app:v1" >/dev/null
wf "$R" pull "$W/prog/app:v1" >/dev/null 2>"$T/err"
is "a pull of blobs the store has: an exists line each, nothing else" \
  "$(grep -cvE "^exists $BLOB$" "$T/err"):$(grep -cE "^exists $BLOB$" "$T/err")" "0:3"
R2=$(wf_root)
out=$(wf "$R2" --quiet pull "$W/prog/app:v1" 2>"$T/err")
is "--quiet pull: only the digest on stdout" "$out" "$MD"
is "and nothing on stderr" "$(wc -c <"$T/err")" 0

# ---- push, not a terminal ------------------------------------------------------------------------
wh_start || wh_done
W2=$WH_HOST
wf "$R" tag "$W/prog/app:v1" "$W2/prog/app:v1"
out=$(wf "$R" push "$W2/prog/app:v1" 2>"$T/err")
is "push prints the result on stdout" "$out" "$W2/prog/app:v1: digest: $MD size: $(wh_size "$T/man")"
order_ok "$T/err" uploading pushed
pass_if "stderr: uploading then pushed, per blob" "$?" "$(cat "$T/err")"
wf "$R" push "$W2/prog/app:v1" >/dev/null 2>"$T/err"
is "a second push: an exists line per blob" "$(grep -cvE "^exists $BLOB$" "$T/err"):$(grep -cE "^exists $BLOB$" "$T/err")" "0:3"
wf "$R" tag "$W/prog/app:v1" "$W2/prog/other:v1"
wf "$R" push "$W2/prog/other:v1" >/dev/null 2>"$T/err"
is "a push to another repository of the same registry: a mounted line per blob" \
  "$(grep -cvE "^mounted $BLOB$" "$T/err"):$(grep -cE "^mounted $BLOB$" "$T/err")" "0:3"
wf "$R" tag "$W/prog/app:v1" "$W2/prog/third:v1"
out=$(wf "$R" --quiet push "$W2/prog/third:v1" 2>"$T/err")
is "--quiet push: only the digest on stdout" "$out" "$MD"
is "and nothing on stderr" "$(wc -c <"$T/err")" 0

# ---- a terminal --------------------------------------------------------------------------------------
if script -qec true /dev/null >/dev/null 2>&1; then
  R3=$(wf_root)
  script -qec "timeout 60 $WHARF --root $R3 pull $W/prog/app:v1" /dev/null >"$T/tty" 2>&1
  is "pull on a terminal exits 0" "$?" 0
  tty=$(tr -d '\r' <"$T/tty")
  pass_if "lines are erased and redrawn in place (ESC[K, cursor up)" \
    "$(grep -q $'\e\\[K' <<<"$tty" && grep -qE $'\e\\[[0-9]+A' <<<"$tty"; echo $?)" "$(cat -v "$T/tty" | head -n 20)"
  like "each line shows a short digest, the state, bytes done / total" "$tty" \
    $'sha256:[0-9a-f]{12} +pulled +[0-9.]+ (B|KiB|MiB) / [0-9.]+ (B|KiB|MiB)'
  like "and the result" "$tty" "$W/prog/app:v1: $MD"
  pass_if "no line-based start lines on a terminal" "$(! grep -q '^downloading' <<<"$tty"; echo $?)"
else
  skip "progress on a terminal" "util-linux script cannot run here"
fi

wh_done
