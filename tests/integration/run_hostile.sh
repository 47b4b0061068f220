#!/bin/bash
# tests/integration/run_hostile.sh - hostile images against `wharf run`:
# layers that climb out of the root ("..", absolute names, a symlink then a
# write through it, a hardlink out, a whiteout through a symlink, "/"
# replaced by a file, device nodes, a zstd bomb) and configs and trees that
# aim the runtime at the host (/proc a symlink, /etc/resolv.conf or /etc a
# symlink to a host path, Volumes "/../../..", WorkingDir under
# /proc/self/fd or above the root). Each case ends in a clear error (125)
# or a safe result; a canary directory on the host proves that nothing
# outside was created, changed or removed.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
. "${BASH_SOURCE%/*}/client_lib.sh"
T=$WH_TMP
FIX=${TOP_SRCDIR:-${BASH_SOURCE%/*}/../..}/tests/fixtures

run_prereqs "hostile images" python3 zstd

R=$(wf_root)
C=$T/canary
mkdir -p "$C/dir" && echo original >"$C/file" && chmod 644 "$C/file"
canary() { (cd "$C" && find . -printf '%p %s %m %n\n' | sort && cat file) | sha256sum; }
CANARY=$(canary)
bash "$FIX/mkbusybox.sh" "$T/bb" >/dev/null

# img NAME [mkimage.py options]: builds and loads hostile/NAME:1
N=0
img() {
  local name=$1
  shift
  python3 "$FIX/mkimage.py" "$T/bb" "$T/img-$name" --ref "hostile/$name:1" "$@" >/dev/null &&
    wf "$R" load -i "$T/img-$name" >/dev/null
}
run() { timeout 60 "$WHARF" --root "$R" run --rm "$@"; }
# refused NAME IMAGE [CMD]: wharf refuses with 125 and a message saying why
refused() {
  local out st
  out=$(run "hostile/$2:1" "${3:-true}" 2>&1)
  st=$?
  pass_if "$1: refused (125) with a message" "$([[ $st == 125 && $out == wharf:* ]]; echo $?)" "status $st" "$out"
  is "$1: nothing outside the root touched" "$(canary)" "$CANARY"
}
# safe NAME IMAGE CMD WANT: runs, prints WANT, canary intact
safe() {
  local out
  out=$(run "hostile/$2:1" sh -c "$3" 2>&1)
  is "$1: runs confined" "$out" "$4"
  is "$1: nothing outside the root touched" "$(canary)" "$CANARY"
}

# ---- the extractor ------------------------------------------------------------------
img dotdot --entries "[{\"name\": \"../../../../../../../../..$C/evil\", \"data\": \"x\"}]"
refused "a name climbing out with .." dotdot
img abs --entries "[{\"name\": \"$C/abs\", \"data\": \"x\"}]"
safe "an absolute name lands inside the root" abs "cat $C/abs" x
img symwrite --entries "[{\"name\": \"lnk\", \"type\": \"symlink\", \"linkname\": \"$C\"},
                         {\"name\": \"lnk/evil\", \"data\": \"x\"}]"
OUT=$(run hostile/symwrite:1 true 2>&1)
is "a write through a symlink to a host path: nothing outside" "$(canary)" "$CANARY"
img hardlink --entries "[{\"name\": \"hl\", \"type\": \"hardlink\", \"linkname\": \"../../../../../../..$C/file\"}]"
refused "a hardlink out of the root" hardlink
img hardabs --entries "[{\"name\": \"target\", \"data\": \"inside\"},
                        {\"name\": \"hl\", \"type\": \"hardlink\", \"linkname\": \"/target\"}]"
safe "a hardlink to an absolute name links inside the root" hardabs "cat /hl" inside
img hardlower --entries "[{\"name\": \"hl\", \"type\": \"hardlink\", \"linkname\": \"/etc/passwd\"}]"
refused "a hardlink to a file of another layer" hardlower
img whsym --entries "[{\"name\": \"wdir\", \"type\": \"symlink\", \"linkname\": \"$C\"},
                      {\"name\": \"wdir/.wh.file\", \"data\": \"\"}]"
OUT=$(run hostile/whsym:1 true 2>&1)
is "a whiteout through a symlink: nothing outside removed" "$(canary)" "$CANARY"
img rootfile --entries '[{"name": ".", "data": "not a directory"}]'
refused "\"/\" replaced by a file" rootfile
img devnode --entries '[{"name": "mem", "type": "char", "major": 1, "minor": 1, "mode": 438},
                        {"name": "kmsg", "type": "char", "major": 1, "minor": 11, "mode": 438}]'
safe "device nodes of an image are not created" devnode "ls /mem /kmsg 2>/dev/null | wc -l" 0

# a zstd bomb: 512 MiB of zeros in a few KiB
python3 -c '
import sys, tarfile, io
class Zeros(io.RawIOBase):
    def __init__(s, n): s.n = n
    def readable(s): return True
    def readinto(s, b):
        k = min(len(b), s.n); b[:k] = bytes(k); s.n -= k; return k
t = tarfile.open(fileobj=sys.stdout.buffer, mode="w|", format=tarfile.GNU_FORMAT)
ti = tarfile.TarInfo("zeros"); ti.size = 512 << 20
t.addfile(ti, io.BufferedReader(Zeros(ti.size))); t.close()' |
  tee >(sha256sum | cut -d' ' -f1 >"$T/bomb.diffid") | zstd -q -3 -c >"$T/bomb.zst"
sleep 0.2
img zbomb --raw-layer "$T/bomb.zst" --media-type application/vnd.oci.image.layer.v1.tar+zstd \
  --diff-id "sha256:$(cat "$T/bomb.diffid")"
OUT=$(run hostile/zbomb:1 true 2>&1)
ST=$?
pass_if "a zstd bomb is cut off (125, a bomb)" "$([[ $ST == 125 && ( $OUT == *bomb* || $OUT == *"too big"* ) ]]; echo $?)" \
  "status $ST, $(wc -c <"$T/bomb.zst") bytes" "$OUT"
is "... and leaves no layer behind in the cache" "$(find "$R/layers" -maxdepth 2 -name 'tmp-*' | wc -l)" 0

# ---- the runtime ------------------------------------------------------------------------
img procsym --entries "[{\"name\": \"proc\", \"type\": \"symlink\", \"linkname\": \"$C/dir\"}]"
refused "/proc a symlink to a host path" procsym
img syssym --entries "[{\"name\": \"sys\", \"type\": \"symlink\", \"linkname\": \"$C/dir\"}]"
refused "/sys a symlink to a host path" syssym
img resolv --entries "[{\"name\": \"etc/resolv.conf\", \"type\": \"symlink\", \"linkname\": \"$C/file\"}]"
safe "/etc/resolv.conf a symlink to a host file" resolv \
  'echo pwned >/etc/resolv.conf; echo pwned >/etc/hosts; cat /etc/resolv.conf' pwned
img etcsym --entries "[{\"name\": \"etc\", \"type\": \"symlink\", \"linkname\": \"$C/dir\"}]"
refused "/etc a symlink to a host directory" etcsym
img volumes --config "{\"Volumes\": {\"/../../../../..$C/vol\": {}, \"/../../etc\": {}}}"
safe "Volumes climbing out of the root" volumes 'echo ok' ok
img wdfd --config '{"WorkingDir": "/proc/self/fd/3"}'
refused "WorkingDir under /proc/self/fd" wdfd
img wdup --config "{\"WorkingDir\": \"/../../../../..$C/dir\"}"
safe "WorkingDir above the root stays inside" wdup 'touch planted; pwd' "$C/dir"
img devsym --entries "[{\"name\": \"dev\", \"type\": \"symlink\", \"linkname\": \"$C/dir\"}]"
refused "/dev a symlink to a host path" devsym
img tmpsym --entries "[{\"name\": \"tmp\", \"type\": \"symlink\", \"linkname\": \"$C/dir\"}]"
OUT=$(timeout 60 "$WHARF" --root "$R" run --rm --tmpfs /tmp hostile/tmpsym:1 sh -c 'echo x >/tmp/planted' 2>&1)
is "--tmpfs over a symlink to a host path: nothing outside" "$(canary)" "$CANARY"
OUT=$(timeout 60 "$WHARF" --root "$R" run --rm -v "$T/vol:/etc/../../../../..$C/dir" busybox true 2>&1)
is "a volume target climbing out of the root: nothing outside" "$(canary)" "$CANARY"
is "nothing is left mounted" "$(grep -c "$R" /proc/self/mountinfo)" 0

wh_done
