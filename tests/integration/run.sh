#!/bin/bash
# tests/integration/run.sh - `wharf run` and the container verbs on the
# busybox-static fixture image: isolation (pid 1 is wharf's init, own
# hostname, mount table and network, root inside is an unprivileged id
# outside), the image's config and the options honoured (-e, --env-file, -w,
# -u, -v, --tmpfs, --read-only, --network, --entrypoint), exit statuses
# (the command's, 125/126/127), confinement (capabilities, no_new_privs,
# seccomp, /proc masks, /proc/1/exe), a container's writes staying in it,
# limits (--pids-limit, --memory), and -d with ps, logs, exec, stop, rm.
# Needs root (a user namespace with a subordinate id range and overlay).
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
. "${BASH_SOURCE%/*}/client_lib.sh"
T=$WH_TMP
FIX=${TOP_SRCDIR:-${BASH_SOURCE%/*}/../..}/tests/fixtures

run_prereqs "wharf run"

R=$(wf_root)
run() { timeout 60 "$WHARF" --root "$R" run "$@"; }

bash "$FIX/mkbusybox.sh" "$T/bb" >/dev/null
check "the busybox fixture loads" wf "$R" load -i "$T/bb"

# ---- basics and exit statuses ---------------------------------------------------
is "echo runs" "$(run --rm busybox echo hello 2>&1)" "hello"
run --rm busybox sh -c 'exit 42'
is "the command's exit status is wharf's" "$?" 42
OUT=$(run --rm busybox no-such-command 2>&1)
is "a missing command exits 127" "$?" 127
like "... with a readable error" "$OUT" 'exec "no-such-command".*not found|No such file'
OUT=$(run --rm busybox /etc/passwd 2>&1)
is "a command that cannot be executed exits 126" "$?" 126
OUT=$(run --rm busybox sh -c 'kill -9 $$' 2>&1)
is "a command killed by a signal exits 128+signal" "$?" 137
OUT=$(run --rm -w relative busybox true 2>&1)
is "a bad option is wharf's failure (125)" "$?" 125
OUT=$(run --rm 127.0.0.1:1/no-such-image:latest true 2>&1)
ST=$?
pass_if "an image that cannot be found or pulled fails with 125" "$([[ $ST == 125 ]]; echo $?)" "status $ST" "$OUT"

# The status comes back when the command ends: pid 1 kills what else runs in
# the container first, and the namespaces' teardown finishes after wharf.
A=$EPOCHREALTIME
OUT=$(run --rm busybox sh -c 'sleep 4242 & exit 7' 2>&1)
ST=$?
B=$EPOCHREALTIME
is "the command's status while a background process still ran" "$ST" 7
pass_if "... at once, not when the background process would end" \
  "$(awk -v a="$A" -v b="$B" 'BEGIN { exit !(b - a < 10) }'; echo $?)" "took $A..$B" "$OUT"
is "... and the background process was killed" "$(pgrep -xf 'sleep 4242' | wc -l)" 0
for ((i = 0; i < 50; i++)); do
  [[ -z $(find "$R/containers" -mindepth 1 -maxdepth 1 -name '.trash-*' 2>/dev/null) ]] && break
  sleep 0.1
done
is "--rm: the container directory is gone once its teardown ended" \
  "$(find "$R/containers" -mindepth 1 -maxdepth 1 ! -name names | wc -l)" 0

# ---- isolation -------------------------------------------------------------------
is "the command is pid 2 under wharf's init (pid 1)" "$(run --rm busybox sh -c 'echo $$')" 2
N=$(run --rm busybox sh -c 'ls /proc | grep -c "^[0-9]"')
pass_if "only the container's processes are visible" "$([[ $N -ge 2 && $N -le 5 ]]; echo $?)" "saw $N"
is "--hostname" "$(run --rm --hostname box1 busybox hostname)" box1
is "/etc/hostname and /etc/hosts name it" "$(run --rm --hostname box2 busybox sh -c 'cat /etc/hostname; grep -c box2 /etc/hosts')" \
  "box2
1"
is "root inside" "$(run --rm busybox id -u)" 0
MAP=$(run --rm busybox cat /proc/self/uid_map | tr -s ' ')
like "root inside maps to an unprivileged range outside" "$MAP" '^ ?0 [1-9][0-9]+ [0-9]+$'
is "the host's mounts are not visible (no cgroup mounts)" "$(run --rm busybox grep -c cgroup /proc/self/mountinfo)" 0
is "--network private: loopback only" "$(run --rm busybox ls /sys/class/net)" lo
like "--network private: loopback is up" "$(run --rm busybox ip link show lo)" 'UP'
like "--network none: loopback is down" "$(run --rm --network none busybox ip link show lo)" 'state DOWN|<LOOPBACK>'
HOSTIF=$(ls /sys/class/net | sort | tr '\n' ' ')
is "--network host: the host's interfaces" "$(run --rm --network host busybox ls /sys/class/net | sort | tr '\n' ' ')" "$HOSTIF"

# ---- confinement ------------------------------------------------------------------
is "capabilities: docker's default set" "$(run --rm busybox sh -c 'grep CapEff /proc/self/status | cut -f2')" \
  00000000a80425fb
is "--cap-drop ALL" "$(run --rm --cap-drop ALL busybox sh -c 'grep CapBnd /proc/self/status | cut -f2')" \
  0000000000000000
is "--cap-add SYS_ADMIN" "$(run --rm --cap-add SYS_ADMIN busybox sh -c 'grep CapEff /proc/self/status | cut -f2')" \
  00000000a82425fb
is "a non-root user has no capabilities" "$(run --rm -u app busybox sh -c 'grep CapEff /proc/self/status | cut -f2')" \
  0000000000000000
is "no_new_privs" "$(run --rm busybox sh -c 'grep NoNewPrivs /proc/self/status | cut -f2')" 1
is "a seccomp filter" "$(run --rm busybox sh -c 'grep ^Seccomp: /proc/self/status | cut -f2')" 2
OUT=$(run --rm busybox unshare -U true 2>&1)
pass_if "new namespaces are refused inside" "$([[ $? != 0 ]]; echo $?)" "$OUT"
OUT=$(run --rm busybox sh -c 'mount -t tmpfs x /mnt' 2>&1)
pass_if "mount is refused inside" "$([[ $? != 0 ]]; echo $?)" "$OUT"
# the compiled filter is kept in the layer cache; a damaged one is compiled again
KEPT=("$R"/layers/*/.seccomp-0)
is "the compiled seccomp filter is kept" "$(stat -c %F "${KEPT[0]}" 2>&1)" "regular file"
printf 'not a filter' >"${KEPT[0]}"
OUT=$(run --rm busybox sh -c 'grep ^Seccomp: /proc/self/status | cut -f2; unshare -U true 2>/dev/null && echo UNSHARED' 2>&1)
is "a damaged kept filter is compiled again and holds" "$OUT" 2
pass_if "... and written again" "$([[ $(stat -c %s "${KEPT[0]}") -gt 1000 ]]; echo $?)" "$(ls -l "${KEPT[0]}")"
is "/proc/kcore is masked" "$(run --rm busybox sh -c 'head -c 16 /proc/kcore 2>/dev/null | wc -c')" 0
OUT=$(run --rm busybox sh -c 'echo 1 >/proc/sys/kernel/domainname' 2>&1)
pass_if "/proc/sys is read-only" "$([[ $? != 0 ]]; echo $?)" "$OUT"
OUT=$(run --rm busybox sh -c 'echo 1 >/sys/kernel/uevent_helper' 2>&1)
pass_if "/sys is read-only" "$([[ $? != 0 ]]; echo $?)" "$OUT"
OUT=$(run --rm busybox sh -c 'cat /proc/1/exe >/dev/null && echo READ; echo x >>/proc/1/exe && echo WROTE' 2>&1)
pass_if "the runtime binary cannot be read or written through /proc/1/exe" \
  "$([[ $OUT != *READ* && $OUT != *WROTE* ]]; echo $?)" "$OUT"
is "--privileged keeps every capability" \
  "$(run --rm --privileged busybox sh -c 'grep ^Seccomp: /proc/self/status | cut -f2')" 0
is "no fd of wharf leaks into the container (0-2 and ls's own)" "$(run --rm busybox ls /proc/self/fd | tr '\n' ' ')" "0 1 2 3 "

# ---- the image config and the options ----------------------------------------------
is "the image's Env" "$(run --rm busybox sh -c 'echo $PATH')" /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
printf 'FROMFILE=1\n# comment\nB=from-file\n' >"$T/envfile"
is "-e and --env-file (-e wins)" "$(A=passed run --rm -e X=1 -e A --env-file "$T/envfile" -e B=cli busybox sh -c 'echo $X$A$FROMFILE$B')" \
  "1passed1cli"
is "-w makes and enters the working directory" "$(run --rm -w /a/b busybox pwd)" /a/b
is "-u by name (the image's /etc/passwd)" "$(run --rm -u app busybox sh -c 'id -u; id -g; echo $HOME')" "1000
1000
/home/app"
is "-u uid:gid" "$(run --rm -u 1234:55 busybox sh -c 'id -u; id -g')" "1234
55"
OUT=$(run --rm -u nosuchuser busybox true 2>&1)
like "-u of an unknown user fails clearly" "$?:$OUT" '^125:.*nosuchuser'
is "--entrypoint" "$(run --rm --entrypoint echo busybox a b)" "a b"
# container root is an unprivileged id on the host: the volume must let it write
mkdir -p "$T/vol" && chmod 777 "$T/vol" && echo host-data >"$T/vol/f"
is "-v binds a host directory" "$(run --rm -v "$T/vol:/data" busybox cat /data/f)" host-data
run --rm -v "$T/vol:/data" busybox sh -c 'echo from-ctr >/data/g'
is "... writes reach the host" "$(cat "$T/vol/g" 2>&1)" from-ctr
OUT=$(run --rm -v "$T/vol:/data:ro" busybox sh -c 'echo x >/data/h' 2>&1)
pass_if "-v ...:ro is read-only" "$([[ $? != 0 && ! -e $T/vol/h ]]; echo $?)" "$OUT"
OUT=$(run --rm --read-only busybox sh -c 'echo x >/file' 2>&1)
pass_if "--read-only root" "$([[ $? != 0 ]]; echo $?)" "$OUT"
is "--tmpfs is writable on a read-only root" "$(run --rm --read-only --tmpfs /tmp busybox sh -c 'echo ok >/tmp/x && cat /tmp/x')" ok

# ---- published ports (slirp4netns) ---------------------------------------------------
if command -v slirp4netns >/dev/null && command -v python3 >/dev/null; then
  PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  run -d --rm --name webp -p "127.0.0.1:$PORT:80" busybox \
    sh -c 'mkdir -p /www; echo hello-web >/www/index.html; exec httpd -f -p 80 -h /www' >/dev/null
  BODY=
  for i in $(seq 50); do BODY=$(curl -s -m 2 "http://127.0.0.1:$PORT/") && [[ -n $BODY ]] && break; sleep 0.1; done
  is "-p publishes a container's port on the host" "$BODY" hello-web
  check "stop of a container with a published port" wf "$R" stop webp
  pass_if "... the port is closed again" "$(! curl -s -m 2 "http://127.0.0.1:$PORT/" >/dev/null; echo $?)"
  OUT=$(run --rm --network host -p 1:1 busybox true 2>&1)
  like "-p with --network host is refused" "$?:$OUT" '^125:.*-p needs'
else
  skip "-p publishes a port" "slirp4netns is not installed"
fi

# ---- terminals and stdin ------------------------------------------------------------
is "-i passes stdin" "$(echo piped | run --rm -i busybox cat)" piped
is "without -i the command reads nothing" "$(echo piped | run --rm busybox cat)" ""
if command -v script >/dev/null; then
  OUT=$(TERM=dumb script -qec "stty cols 91 rows 33; $WHARF --root $R run --rm -i -t busybox sh -c 'tty; stty size; echo \$TERM'" /dev/null | tr -d '\r')
  like "-t gives a terminal inside the container with the caller's size" "$OUT" '/dev/pts/0.*33 91.*xterm'
  OUT=$(printf 'echo typed-$((6*7))\nexit 5\n' | TERM=dumb script -qec "$WHARF --root $R run --rm -i -t busybox sh" /dev/null | tr -d '\r')
  like "-i -t: what is typed reaches the shell" "$OUT" 'typed-42'
else
  skip "-t gives a terminal" "script (util-linux) is not installed"
fi

# ---- writes stay in their container ------------------------------------------------
run --name writer busybox sh -c 'echo wharf-canary-7781 >/written; rm /bin/ls'
is "a file written in one container is not seen by another" \
  "$(run --rm busybox sh -c 'cat /written 2>/dev/null; ls /bin/ls')" /bin/ls
pass_if "... nor in the layer cache" "$(! grep -rqs wharf-canary-7781 "$R/layers"; echo $?)"
check "rm of an exited container" wf "$R" rm writer
OUT=$(run --name writer busybox true && wf "$R" rm writer 2>&1)
pass_if "its name is free again after rm" "$?" "$OUT"
run --rm --name dup busybox true
run -d --name dup busybox sleep 30 >/dev/null
OUT=$(run --name dup busybox true 2>&1)
like "a name in use is refused" "$?:$OUT" '^125:.*already in use'
# pid 1 never execs: it holds stdio and its socket to the monitor, no fd of
# wharf's (the container's lock is a directory of the host)
PID=$(wf "$R" ps --format json | jq -r '.[] | select(.name == "dup") | .pid')
is "pid 1 holds no fd of wharf's but its socket to the monitor" \
  "$(find "/proc/$PID/fd" -mindepth 1 -printf '%l\n' | grep -vc '^socket:\|^/dev/null$\|/log$')" 0
wf "$R" rm -f dup >/dev/null

# ---- limits ------------------------------------------------------------------------
# builtins only once the limit is hit: the loop counts the forks that worked
FORKS='( i=0; while [ $i -lt 60 ]; do sleep 5 & i=$((i+1)); echo $i >/tmp/n; done ) 2>/dev/null; read n </tmp/n; echo $n'
is "without a limit the loop forks 60 times" "$(run --rm busybox sh -c "$FORKS")" 60
OUT=$(run --rm --pids-limit 20 busybox sh -c "$FORKS" 2>&1)
pass_if "--pids-limit stops a fork loop" "$([[ $OUT =~ ^[0-9]+$ && $OUT -le 20 ]]; echo $?)" "$OUT"
OUT=$(run --rm --memory 32m busybox sh -c 'dd if=/dev/zero of=/dev/null bs=128M count=1 && echo survived' 2>&1)
ST=$?
pass_if "--memory kills a command that goes past it" "$([[ $ST != 0 && $OUT != *survived* ]]; echo $?)" "status $ST" "$OUT"

# ---- detached containers ------------------------------------------------------------
ID=$(run -d --name web busybox sh -c 'echo started; trap "echo got-term; exit 3" TERM; while :; do sleep 0.1; done')
like "-d prints the container id" "$ID" '^[0-9a-f]{64}$'
like "ps lists it as running" "$(wf "$R" ps)" "web"
PID=$(wf "$R" ps --format json | jq -r '.[] | select(.name == "web") | .pid')
like "pid 1 runs as an unprivileged host user" "$(awk '/^Uid:/ {print $2}' "/proc/$PID/status")" '^[1-9][0-9]+$'
is "exec runs in its namespaces" "$(wf "$R" exec web sh -c 'hostname; ls /proc | grep -c "^1$"')" "${ID:0:12}
1"
is "exec with -e and -u" "$(wf "$R" exec -e Z=9 -u app web sh -c 'echo $Z $(id -u)')" "9 1000"
check "stop sends the stop signal" wf "$R" stop web
like "logs show the output" "$(wf "$R" logs web)" 'started.*got-term'
like "ps -a shows the exit status" "$(wf "$R" ps -a)" 'Exited \(3\)'
check "rm removes it" wf "$R" rm web
is "ps -a no longer lists it" "$(wf "$R" ps -a -q | wc -l)" 0
run -d --name sleeper busybox sh -c 'trap "" TERM; sleep 60' >/dev/null
check "stop -t 1 falls back to SIGKILL" wf "$R" stop -t 1 sleeper
like "... status 137" "$(wf "$R" ps -a)" 'Exited \(137\)'
OUT=$(wf "$R" exec sleeper true 2>&1)
pass_if "exec into a stopped container fails" "$([[ $? != 0 ]]; echo $?)" "$OUT"
wf "$R" rm sleeper >/dev/null
run --rm -d --name gone busybox true >/dev/null
for i in $(seq 50); do [[ $(wf "$R" ps -a -q | wc -l) == 0 ]] && break; sleep 0.1; done
is "--rm -d removes the container when it exits" "$(wf "$R" ps -a -q | wc -l)" 0
# kill -9 of wharf itself: the container dies with its monitor, and the
# next wharf command cleans up its cgroups and its --rm directory
ID=$(run -d --rm --pids-limit 50 --name victim busybox sleep 60)
PID=$(wf "$R" ps --format json | jq -r '.[] | select(.name == "victim") | .pid')
MON=$(awk '{print $4}' "/proc/$PID/stat" 2>/dev/null)
CG=$(find /sys/fs/cgroup -maxdepth 6 -type d -name "$ID" 2>/dev/null | head -1)
pass_if "a container with a limit has a cgroup" "$([[ -n $CG ]]; echo $?)"
kill -9 "$MON"
for i in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
pass_if "pid 1 dies with its monitor" "$(! kill -0 "$PID" 2>/dev/null; echo $?)"
is "the next command removes what --rm left" "$(wf "$R" ps -a -q | wc -l)" 0
pass_if "... and its cgroup" "$([[ -n $CG && ! -d $CG ]]; echo $?)" "$CG"
# the same for a foreground run --rm (its remover leaves with it); pid 1
# ends at once, while this host's init may reap it only seconds later
"$WHARF" --root "$R" run --rm --name fg busybox sleep 60 >/dev/null 2>&1 &
FG=$!
wh_track "$FG"
for i in $(seq 50); do
  PID=$(wf "$R" ps --format json | jq -r '.[] | select(.name == "fg") | .pid')
  [[ -n $PID && $PID != null ]] && break
  sleep 0.1
done
kill -9 "$FG"
wait "$FG" 2>/dev/null
for i in $(seq 50); do wh_running "$PID" || break; sleep 0.1; done
is "a killed foreground run --rm: the next command removes it at once" "$(wf "$R" ps -a -q | wc -l)" 0
# a foreground run --rm leaves that sweep to its remover, while its command runs
ID=$(run -d --rm --name victim3 busybox sleep 60)
PID=$(wf "$R" ps --format json | jq -r '.[] | select(.name == "victim3") | .pid')
kill -9 "$(awk '{print $4}' "/proc/$PID/stat")"
for i in $(seq 50); do wh_running "$PID" || break; sleep 0.1; done
run --rm busybox true
for i in $(seq 50); do [[ -d $R/containers/$ID ]] || break; sleep 0.1; done
pass_if "a foreground run --rm sweeps too (its remover does)" "$([[ -n $ID && ! -d $R/containers/$ID ]]; echo $?)" \
  "$(ls -a "$R/containers")"
# ... and when the name it wants is held by a killed monitor's container,
# it sweeps at once and takes the name
ID=$(run -d --rm --name victim4 busybox sleep 60)
PID=$(wf "$R" ps --format json | jq -r '.[] | select(.name == "victim4") | .pid')
kill -9 "$(awk '{print $4}' "/proc/$PID/stat")"
for i in $(seq 50); do wh_running "$PID" || break; sleep 0.1; done
is "a killed monitor's container name is taken again by a foreground run --rm" \
  "$(run --rm --name victim4 busybox echo again 2>&1)" again
ID=$(run -d --name victim2 busybox sleep 60)
PID=$(wf "$R" ps --format json | jq -r '.[] | select(.name == "victim2") | .pid')
kill -9 "$(awk '{print $4}' "/proc/$PID/stat")"
for i in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
like "a killed container without --rm shows as exited" "$(wf "$R" ps -a)" 'Exited \(137\).*victim2'
wf "$R" rm victim2 >/dev/null

# without overlayfs: a copied root, said once
OUT=$(WHARF_NO_OVERLAY=1 run --rm busybox sh -c 'echo x >/new; cat /new; grep -c " / overlay" /proc/self/mountinfo')
is "without overlayfs the image is copied into the container" "$OUT" "x
0"

# the layer cache follows the store: rmi + prune remove unpacked layers no
# container uses
run --name keeper busybox true
# the image's init layer holds the mount points: a start writes nothing
KEEPER=$(readlink "$R/containers/names/keeper")
is "a start creates nothing in the container's upper directory" \
  "$(find "$R/containers/$KEEPER/upper" -mindepth 1 | wc -l)" 0
# what a killed extraction left: a start with all it needs cached does not
# look for it, prune removes it (once a minute old)
MAPDIR=$(dirname "$(find "$R/layers" -mindepth 2 -maxdepth 2 -name '*.init' | head -1)")
mkdir -p "$MAPDIR/tmp-sha256-killed-0123/bin" && touch -d '2 minutes ago' "$MAPDIR/tmp-sha256-killed-0123"
run --rm busybox true
pass_if "a cached start leaves a killed extraction's tmp- directory alone" \
  "$([[ -d $MAPDIR/tmp-sha256-killed-0123 ]]; echo $?)"
wf "$R" tag busybox other:1 >/dev/null
check "rmi of both names of the image" wf "$R" rmi busybox other:1
like "prune keeps a layer a container still uses" "$(wf "$R" prune --grace 0 2>/dev/null)" ' 0 unpacked layers'
pass_if "... and removes a killed extraction's tmp- directory" "$([[ ! -e $MAPDIR/tmp-sha256-killed-0123 ]]; echo $?)"
wf "$R" rm keeper >/dev/null
like "prune removes it once no container uses it" "$(wf "$R" prune --grace 0 2>/dev/null)" ' 1 unpacked layer'
is "the layer cache is empty" "$(find "$R/layers" -mindepth 2 -maxdepth 2 | wc -l)" 0

# ---- without root: container root is the caller, the overlay uses userxattr --------
if command -v setpriv >/dev/null; then
  RL=$(mktemp -d /tmp/wharf-rootless.XXXXXX)
  cp -r "$T/bb" "$RL/bb"
  chown -R 65534:65534 "$RL"
  nobody() { (cd "$RL" && timeout 60 setpriv --reuid=65534 --regid=65534 --clear-groups "$WHARF" --root "$RL/store" "$@"); }
  check "rootless: load" nobody load -i "$RL/bb"
  is "rootless: run, root inside mapped to the caller" \
    "$(nobody run --rm busybox sh -c 'id -u; cat /proc/self/uid_map | tr -s " "; echo x >/w; cat /w')" "0
 0 65534 1
x"
  nobody run -d --name rl busybox sleep 30 >/dev/null
  is "rootless: exec into a detached container" "$(nobody exec rl id -u)" 0
  nobody rm -f rl >/dev/null
  rm -rf "$RL"
else
  skip "rootless run" "setpriv (util-linux) is not installed"
fi

is "nothing is left mounted" "$(grep -c "$R" /proc/self/mountinfo)" 0

wh_done
