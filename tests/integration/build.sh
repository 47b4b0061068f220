#!/bin/bash
# tests/integration/build.sh - `wharf build` on the busybox-static fixture:
# every instruction (FROM, RUN both forms, heredocs, COPY/ADD with globs,
# --chown, --chmod, --from, archives, ENV, ARG before and after FROM,
# WORKDIR, USER, CMD, ENTRYPOINT, EXPOSE, LABEL, VOLUME, STOPSIGNAL, SHELL,
# HEALTHCHECK, ONBUILD), multi-stage builds and --target, the cache
# (a second build does no work; touching a copied file re-runs that step
# and the ones after it only), a failing RUN that leaves an image to open,
# reproducible digests with SOURCE_DATE_EPOCH, errors before any step
# (unknown instruction, missing COPY source, COPY ../x), the context's
# symlinks and RUN never reaching the host; the result runs with
# `wharf run`, is valid for umoci, and travels wharfd -> skopeo.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init
. "${BASH_SOURCE%/*}/client_lib.sh"
T=$WH_TMP
FIX=${TOP_SRCDIR:-${BASH_SOURCE%/*}/../..}/tests/fixtures

run_prereqs "wharf build"

R=$(wf_root)
b() { timeout 120 "$WHARF" --root "$R" build "$@"; }
run() { timeout 60 "$WHARF" --root "$R" run --rm "$@"; }
export SOURCE_DATE_EPOCH=1700000000
bash "$FIX/mkbusybox.sh" "$T/bb" >/dev/null
check "the busybox fixture loads" wf "$R" load -i "$T/bb"
C=$WH_TMP/canary
mkdir -p "$C" && echo original >"$C/file"

# ---- a file with every instruction -----------------------------------------------------
X=$T/ctx1
mkdir -p "$X/dir/sub" "$X/skipped"
echo one >"$X/a.txt"
echo two >"$X/b.txt"
echo deep >"$X/dir/sub/deep"
echo secret >"$X/skipped/secret"
echo ignored >"$X/notes.log"
mkdir -p "$X/links" && ln -s "$C/file" "$X/links/outside-link"
(cd "$X" && mkdir -p arc/inner && echo packed >arc/inner/p && tar -czf pack.tgz arc && rm -rf arc)
printf 'skipped\n*.log\n' >"$X/.dockerignore"
cat >"$X/Dockerfile" <<'EOF'
# a comment
ARG BASE=busybox
FROM ${BASE} AS base
ARG GREETING=hello
ENV APP_HOME=/app \
    MODE=test
LABEL org.example.name="demo app" version=1
WORKDIR $APP_HOME
COPY a.txt ./
COPY --chmod=600 --chown=1000:1000 b.txt /app/b-owned.txt
COPY *.txt /app/glob/
COPY dir /app/dir
COPY links /app/links
ADD pack.tgz /app/unpacked/
RUN echo "$GREETING from $MODE" >/app/greeting && mkdir -p /app/run
RUN ["/bin/sh", "-c", "echo exec-form >/app/exec"]
RUN <<EOT
echo heredoc-line-1 >/app/heredoc
echo heredoc-line-2 >>/app/heredoc
EOT
SHELL ["/bin/sh", "-c"]
USER app
RUN id -u >/tmp/uid && cp /tmp/uid /home/app/uid
USER root
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --retries=2 CMD test -f /app/greeting
ONBUILD RUN echo triggered >/app/onbuild
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/greeting"]

FROM busybox AS final
COPY --from=base /app /app
COPY --from=base /home/app/uid /app/uid
CMD ["cat", "/app/greeting"]
EOF
OUT=$(b -t demo:1 "$X" 2>"$T/build1.err")
ST=$?
pass_if "a file with every instruction builds" "$ST" "$(tail -20 "$T/build1.err")"
like "it prints the image digest" "$OUT" '^sha256:[0-9a-f]{64}$'
D1=$OUT
is "the result runs: CMD and ENV" "$(run demo:1)" "hello from test"
is "exec form RUN" "$(run demo:1 cat /app/exec)" exec-form
is "heredoc RUN" "$(run demo:1 cat /app/heredoc)" "heredoc-line-1
heredoc-line-2"
is "COPY into WORKDIR" "$(run demo:1 cat /app/a.txt)" one
is "COPY --from makes files root's (as docker), modes kept" "$(run demo:1 stat -c '%a %u:%g' /app/b-owned.txt)" "600 0:0"
is "COPY with a glob" "$(run demo:1 ls /app/glob)" "a.txt
b.txt"
is "COPY of a directory copies its contents" "$(run demo:1 cat /app/dir/sub/deep)" deep
is "COPY of a symlink to a host path: the link, never the host file" \
  "$(run demo:1 sh -c 'readlink /app/links/outside-link; cat /app/links/outside-link 2>/dev/null || echo dangling')" "$C/file
dangling"
is "ADD unpacks a local archive" "$(run demo:1 cat /app/unpacked/arc/inner/p)" packed
is "RUN as USER app" "$(run demo:1 cat /app/uid)" 1000
is ".dockerignore keeps files out" "$(run demo:1 sh -c 'ls /app/glob /app | grep -c -e secret -e notes')" 0
INS=$(wf "$R" inspect demo:1)
like "CMD of the last stage" "$INS" '"/app/greeting"'

# the first stage on its own, with --target
OUT=$(b --target base -t demo:base "$X" 2>"$T/build2.err")
pass_if "--target builds a stage" "$?" "$(tail -5 "$T/build2.err")"
CFGB=$(wf "$R" inspect demo:base)
is "COPY --chmod --chown" "$(run --entrypoint stat demo:base -c '%a %u:%g' /app/b-owned.txt)" "600 1000:1000"
like "LABEL" "$CFGB" 'demo app'
like "EXPOSE" "$CFGB" '8080/tcp'
like "WORKDIR" "$CFGB" '"WorkingDir": *"/app"'
like "STOPSIGNAL" "$CFGB" 'SIGINT'
like "HEALTHCHECK kept in the config" "$CFGB" '"Healthcheck": \{'
like "... and in a label (for tools that drop Docker fields)" "$CFGB" 'io.wharf.image.healthcheck.*test -f /app/greeting'
like "SHELL kept" "$CFGB" '"Shell"'
like "ONBUILD kept" "$CFGB" 'triggered'
like "VOLUME" "$CFGB" '"/data"'
like "ENTRYPOINT + CMD" "$(run demo:base)" "hello from test"
mkdir -p "$T/ctx-onbuild"
printf 'FROM demo:base\nRUN cat /app/onbuild\n' >"$T/ctx-onbuild/Dockerfile"
OUT=$(b "$T/ctx-onbuild" 2>&1)
like "ONBUILD triggers run in a child build" "$OUT" 'triggered'

# ---- the cache ------------------------------------------------------------------------
OUT=$(b -t demo:1 "$X" 2>&1)
is "an unchanged build gives the same image" "$(printf '%s\n' "$OUT" | tail -1)" "$D1"
is "... and runs no step" "$(printf '%s\n' "$OUT" | grep -c 'cached\|^-->')" "$(printf '%s\n' "$OUT" | grep -c '^-->')"
START=$EPOCHREALTIME
b -q "$X" >/dev/null 2>&1
MS=$(awk -v a="$START" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
pass_if "a fully cached build takes well under a second (${MS} ms)" "$([[ $MS -lt 2000 ]]; echo $?)"
echo changed >>"$X/b.txt"
OUT=$(b "$X" 2>&1)
FIRST_MISS=$(printf '%s\n' "$OUT" | awk '/^STEP/ {s=$0} /^--> [0-9a-f]/ && !/cached/ && s ~ /COPY|RUN|ADD|WORKDIR|ENV|LABEL/ {print s; exit}')
like "changing a copied file re-runs the step that copies it" "$FIRST_MISS" 'b.txt'
like "... the steps before it stay cached" "$(printf '%s\n' "$OUT" | grep -A1 'COPY a.txt' | tail -1)" 'cached'
OUT=$(b --no-cache "$X" 2>&1)
is "--no-cache runs every step" "$(printf '%s\n' "$OUT" | grep -c '^--> cached')" 0

# ---- reproducible ---------------------------------------------------------------------
D_A=$(b -q --no-cache "$X" 2>/dev/null)
R2=$(wf_root)
wf "$R2" load -i "$T/bb" >/dev/null
D_B=$(timeout 120 "$WHARF" --root "$R2" build -q --no-cache "$X" 2>/dev/null)
is "the same inputs and SOURCE_DATE_EPOCH give the same digest in another store" "$D_B" "$D_A"

# ---- a failing step ----------------------------------------------------------------------
F=$T/ctx-fail
mkdir -p "$F"
cat >"$F/Dockerfile" <<'EOF'
FROM busybox
RUN echo before >/state
RUN echo "some output"; echo "the last words" >&2; exit 3
RUN echo never
EOF
OUT=$(b "$F" 2>&1)
ST=$?
pass_if "a failing RUN fails the build" "$([[ $ST != 0 ]]; echo $?)"
like "... names the step and the exit status" "$OUT" 'Dockerfile:3.*step 3/4.*exit.*3'
like "... shows the last lines of its output" "$OUT" 'the last words'
ID=$(printf '%s\n' "$OUT" | sed -n 's/.*last good step is \([0-9a-f]\{12\}\).*/\1/p')
like "... prints the id of the last good step" "$ID" '^[0-9a-f]{12}$'
is "wharf run of that id opens the state before the failure" "$(run "$ID" cat /state 2>&1)" before

# ---- bad files fail before any step --------------------------------------------------------
E=$T/ctx-err
mkdir -p "$E"
printf 'FROM busybox\nRUN touch /ran\nFROBNICATE x\n' >"$E/Dockerfile"
OUT=$(b "$E" 2>&1)
like "an unknown instruction fails with file:line, before any step" "$?:$OUT" '^[1-9][0-9]*:.*Dockerfile:3.*FROBNICATE'
pass_if "... and ran nothing" "$(! grep -q '^STEP' <<<"$OUT"; echo $?)" "$OUT"
printf 'FROM busybox\nRUN touch /ran\nCOPY missing.txt /\n' >"$E/Dockerfile"
OUT=$(b "$E" 2>&1)
like "a missing COPY source fails before any step" "$OUT" 'Dockerfile:3.*missing.txt'
pass_if "... and ran nothing" "$(! grep -q '^STEP' <<<"$OUT"; echo $?)" "$OUT"
printf 'FROM busybox\nCOPY ../canary/file /x\n' >"$E/Dockerfile"
OUT=$(b "$E" 2>&1)
like "COPY ../x is outside the context" "$?:$OUT" '^[1-9][0-9]*:.*outside the build context'
printf 'FROM busybox\nCOPY outside /x\n' >"$E/Dockerfile"
ln -sfn "$C" "$E/outside"
OUT=$(b -t esc:1 "$E" 2>&1)
like "a source that is a symlink out of the context is followed inside it only: not found" \
  "$?:$OUT" '^[1-9][0-9]*:.*outside.*not found'
printf 'FROM busybox\nCOPY outside/file /x\n' >"$E/Dockerfile"
OUT=$(b -t esc:2 "$E" 2>&1)
OUT2=$(run esc:2 cat /x 2>&1)
pass_if "... also below it: the host's file is never read" "$([[ $OUT2 != *original* ]]; echo $?)" "$OUT" "$OUT2"

(cd "$T" && mkdir -p evil && echo stolen >evil/secret && tar -czf "$C/evil.tgz" evil && rm -rf evil)
ln -sfn "$C" "$E/linkdir"
printf 'FROM busybox\nADD linkdir/evil.tgz /x/\n' >"$E/Dockerfile"
OUT=$(b -t esc:3 "$E" 2>&1)
like "ADD through a symlinked directory out of the context: not found" "$?:$OUT" '^[1-9][0-9]*:.*not found'
OUT2=$(run esc:3 cat /x/evil/secret 2>&1)
pass_if "... the host's archive is never unpacked" "$([[ $OUT2 != *stolen* ]]; echo $?)" "$OUT2"
rm -f "$C/evil.tgz"

# ---- RUN cannot write outside the rootfs ------------------------------------------------------
W=$T/ctx-write
mkdir -p "$W"
cat >"$W/Dockerfile" <<EOF
FROM busybox
RUN echo pwned >$C/file; echo pwned >/../../../..$C/file; ln -s $C /esc; echo pwned >/esc/file; true
EOF
b "$W" >/dev/null 2>&1
is "RUN writing to host paths changes nothing on the host" "$(cat "$C/file")" original

# ---- the image elsewhere -----------------------------------------------------------------------
wh_start || wh_done
wf "$R" tag demo:1 "$WH_HOST/demo:1" >/dev/null
check "push the built image to wharfd" wf "$R" push "$WH_HOST/demo:1"
check "skopeo pulls it back" skopeo copy --src-tls-verify=false "docker://$WH_HOST/demo:1" "oci:$T/sk:demo"
if command -v umoci >/dev/null; then
  OUT=$(b -q --compression gzip -t gz:1 "$X" 2>&1)
  check "save as an OCI layout" wf "$R" save -o "$T/layout" gz:1
  TAGNAME=$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"] // "latest"' "$T/layout/index.json")
  check "umoci accepts the image (stat)" umoci stat --image "$T/layout:$TAGNAME"
  check "umoci unpacks it" umoci unpack --rootless --image "$T/layout:$TAGNAME" "$T/unpacked"
  is "... with the built files" "$(cat "$T/unpacked/rootfs/app/greeting" 2>&1)" "hello from test"
else
  skip "umoci validates the image" "umoci is not installed"
fi
is "nothing is left mounted" "$(grep -c "$R" /proc/self/mountinfo)" 0

wh_done
