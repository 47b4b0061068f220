#!/bin/bash
# tests/integration/webhooks.sh - webhook events from the store's outbox:
# push, tag, pull and delete events reach a local receiver
# (webhook_recv.py) signed with HMAC-SHA256 and carrying the right fields,
# in order; a hook's event and repository filters hold; a receiver that
# answers 500 gets the same event again until it answers 200; an event
# whose push was acknowledged survives a kill -9 of wharfd while the
# receiver is down, and arrives (with one event id) once both are back;
# SIGTERM stops wharfd promptly in the middle of a retry backoff.
. "${BASH_SOURCE%/*}/../lib.sh"
wh_init

SECRET='s3cret-for-hmac'
RLOG=$WH_TMP/received.jsonl
RSTATUS=$WH_TMP/status
RECV=${TOP_SRCDIR:-$(dirname "$0")/../..}/tests/integration/webhook_recv.py
echo 200 >"$RSTATUS"
: >"$RLOG"

# recv_start [PORT]: starts the receiver; sets RPID, RPORT, RURL.
recv_start() {
  local fifo=$WH_TMP/recv.fifo line fd
  rm -f "$fifo"
  mkfifo "$fifo" || return 1
  python3 "$RECV" --secret "$SECRET" --log "$RLOG" --status-file "$RSTATUS" ${1:+--port "$1"} \
    >"$fifo" 2>>"$WH_TMP/recv.stderr" &
  RPID=$!
  wh_track "$RPID"
  exec {fd}<"$fifo"
  IFS= read -r -t 20 -u "$fd" line
  exec {fd}<&-
  rm -f "$fifo"
  if [[ ! $line =~ ^listening\ on\ http://127\.0\.0\.1:([0-9]+)$ ]]; then
    not_ok "webhook receiver starts" "got: '$line'" "$(tail -n 5 "$WH_TMP/recv.stderr")"
    return 1
  fi
  RPORT=${BASH_REMATCH[1]}
  RURL=http://127.0.0.1:$RPORT
}

# got JQ-FILTER: the receiver's records (one JSON per line) passing the filter
got() { jq -c "select($1)" "$RLOG"; }
# wait_for SECONDS JQ-FILTER [COUNT]: until COUNT (1) records pass; 1 when not in time
wait_for() {
  local end=$((SECONDS + $1)) n
  while ((SECONDS <= end)); do
    n=$(got "$2" | wc -l)
    ((n >= ${3:-1})) && return 0
    sleep 0.1
  done
  return 1
}
# delivered PATH ACTION EXTRA-FILTER: jq filter of a 2xx record of that hook and action
delivered() { printf '.path == "%s" and .status == 200 and .event.action == "%s"%s' "$1" "$2" "${3:+ and $3}"; }

recv_start || wh_done
CFG=$WH_TMP/config.json
cat >"$CFG" <<EOF
{ "log_format": "json",
  "webhooks": [
    { "url": "$RURL/a", "secret": "$SECRET", "events": ["push", "pull", "delete", "tag"],
      "timeout_s": 5, "backoff_min_ms": 100, "backoff_max_s": 1 },
    { "url": "$RURL/b?token=x", "secret": "$SECRET", "events": ["push"], "repositories": ["team/*"],
      "timeout_s": 5, "backoff_min_ms": 100, "backoff_max_s": 1 } ] }
EOF
wh_start -c "$CFG" || wh_done
ROOT=$WH_ROOT

# ---- push and tag ------------------------------------------------------------
wh_push_image app/one v1 || not_ok "push app/one:v1" "$(wh_fail_diag 201)"
M1=$WH_MDIGEST M1SIZE=$(wh_size "$WH_MFILE") L1=$(wh_digest "$WH_LFILE") L1SIZE=$(wh_size "$WH_LFILE")
wait_for 30 "$(delivered /a tag)"
pass_if "push of app/one:v1: push and tag events delivered" $? "$(tail -n 5 "$RLOG")"
check "push event has the right fields" jq -e -s --arg d "$M1" --argjson n "$M1SIZE" --arg mt "$MT_OCI_MANIFEST" \
  'map(select(.path == "/a" and .event.action == "push"))[0] | .sig_ok and .event_id == .event.id and
   (.event.id | length > 8) and (.event.seq | type == "number") and (.event.timestamp | test("^20[0-9-]+T[0-9:.]+Z$")) and
   .event.repository == "app/one" and .event.tag == "v1" and .event.digest == $d and .event.target == "manifest" and
   .event.media_type == $mt and .event.size == $n and .event.user == null and .event.old_digest == null' "$RLOG"
check "tag event: v1 created (old digest null)" jq -e -s --arg d "$M1" \
  'map(select(.path == "/a" and .event.action == "tag"))[0].event | .tag == "v1" and .digest == $d and
   .old_digest == null and .target == "tag"' "$RLOG"

wh_push_image app/one v1 || not_ok "push a second app/one:v1" "$(wh_fail_diag 201)"
M2=$WH_MDIGEST
wait_for 30 "$(delivered /a tag ".event.digest == \"$M2\"")"
pass_if "tag move delivered" $?
check "tag move carries the old digest" jq -e -s --arg d "$M2" --arg o "$M1" \
  'map(select(.path == "/a" and .event.action == "tag" and .event.digest == $d))[0].event.old_digest == $o' "$RLOG"

# ---- pulls: GET by tag and by digest; HEAD is no pull -------------------------------
wh_req HEAD /v2/app/one/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
wh_req GET /v2/app/one/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
expect "GET app/one:v1" 200
wh_req GET "/v2/app/one/manifests/$M1" -H "Accept: $MT_OCI_MANIFEST"
expect "GET app/one@M1" 200
wait_for 30 "$(delivered /a pull)" 2
pass_if "two pull events delivered" $?
check "pull by tag: tag v1, digest M2" jq -e -s --arg d "$M2" \
  '[.[] | select(.path == "/a" and .event.action == "pull") | .event] | .[0].tag == "v1" and .[0].digest == $d' "$RLOG"
check "pull by digest: no tag, digest M1" jq -e -s --arg d "$M1" \
  '[.[] | select(.path == "/a" and .event.action == "pull") | .event] | .[1].tag == null and .[1].digest == $d' "$RLOG"

# ---- filters: hook b wants pushes of team/* only --------------------------------------
wh_push_image team/x latest || not_ok "push team/x:latest" "$(wh_fail_diag 201)"
MT=$WH_MDIGEST
wait_for 30 "$(delivered '/b?token=x' push)"
pass_if "hook b got the push of team/x" $?
wait_for 30 "$(delivered /a tag ".event.repository == \"team/x\"")"
is "hook b got nothing else (no app/one, no tag events)" \
  "$(got '(.path | startswith("/b")) and (.event.repository != "team/x" or .event.action != "push")' | wc -l)" 0

# ---- deletes: tag, manifest, blob -------------------------------------------------------
wh_req DELETE /v2/app/one/manifests/v1
expect "DELETE tag v1" 202
wh_req DELETE "/v2/app/one/manifests/$M1"
expect "DELETE manifest M1" 202
wh_req DELETE "/v2/app/one/blobs/$L1"
expect "DELETE blob L1 (no manifest uses it now)" 202
wait_for 30 "$(delivered /a delete)" 3
pass_if "three delete events delivered" $?
check "delete events: tag v1, manifest M1, blob L1 (with size)" jq -e -s --arg m1 "$M1" --arg m2 "$M2" \
  --arg l1 "$L1" --argjson ln "$L1SIZE" \
  '[.[] | select(.path == "/a" and .event.action == "delete") | .event] |
   (.[0] | .target == "tag" and .tag == "v1" and .digest == $m2) and
   (.[1] | .target == "manifest" and .digest == $m1 and .tag == null) and
   (.[2] | .target == "blob" and .digest == $l1 and .size == $ln and .media_type == null)' "$RLOG"
check "hook a got its events in order (seq ascending)" jq -e -s \
  '[.[] | select(.path == "/a" and .status == 200) | .event.seq] | . == sort and . == unique' "$RLOG"
is "every signature verified" "$(got '.sig_ok != true' | wc -l)" 0

# ---- retries: 500 for a while, then 200 ----------------------------------------------------
echo 500 >"$RSTATUS"
wh_push_image app/one v2 || not_ok "push app/one:v2" "$(wh_fail_diag 201)"
M3=$WH_MDIGEST
wait_for 30 ".path == \"/a\" and .status == 500 and .event.digest == \"$M3\" and .event.action == \"push\"" 3
pass_if "the push of v2 was refused 3 times (500)" $?
echo 200 >"$RSTATUS"
wait_for 30 "$(delivered /a tag ".event.digest == \"$M3\"")"
pass_if "after the 500s, the v2 events are delivered" $?
is "each attempt of the v2 push event has the same event id" \
  "$(got ".path == \"/a\" and .event.action == \"push\" and .event.digest == \"$M3\"" | jq -r .event_id | sort -u | wc -l)" 1
is "delivered once" "$(got "$(delivered /a push ".event.digest == \"$M3\"")" | wc -l)" 1
wh_req GET /metrics
FAILED=$(awk '$1 == "wharfd_webhook_deliveries_total{result=\"failed\"}" { print $2 }' "$H_BODY")
((${FAILED:-0} >= 3))
pass_if "metrics count the failed attempts ($FAILED)" $?

# ---- kill -9 right after a push, receiver down -----------------------------------------------
kill -TERM "$RPID"
wh_reap "$RPID" 10
wh_push_image app/one v3 || not_ok "push app/one:v3" "$(wh_fail_diag 201)"
M4=$WH_MDIGEST
wh_kill9 "$WH_PID"
ok "wharfd killed with SIGKILL right after the push was acknowledged"
wh_start -r "$ROOT" -c "$CFG" || wh_done
recv_start "$RPORT" || wh_done
wait_for 30 "$(delivered /a push ".event.digest == \"$M4\"")"
pass_if "the v3 push event survives the kill and is delivered" $?
wait_for 30 "$(delivered /a tag ".event.digest == \"$M4\"")"
pass_if "so is its tag event" $?
is "v3 push event: one event id however often it came" \
  "$(got ".path == \"/a\" and .event.action == \"push\" and .event.digest == \"$M4\"" | jq -r .event_id | sort -u | wc -l)" 1
check "hook a still in order after the restart" jq -e -s \
  '[.[] | select(.path == "/a" and .status == 200) | .event.seq] | . == sort' "$RLOG"
if grep -q 'token=x' "$WH_LOG"; then
  not_ok "webhook URLs are logged without their query" "$(grep 'token=x' "$WH_LOG" | head -n 2)"
else
  ok "webhook URLs are logged without their query"
fi

# ---- SIGTERM in the middle of a backoff -------------------------------------------------------
echo 503 >"$RSTATUS"
wh_push_image app/one v4 || not_ok "push app/one:v4" "$(wh_fail_diag 201)"
wait_for 30 ".path == \"/a\" and .status == 503"
pass_if "the receiver refuses the v4 events" $?
wh_stop # reports exit 0 within 10 s

wh_done
