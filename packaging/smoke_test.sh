#!/usr/bin/env bash
# Smoke test of the FROZEN binary (CI runs it after `make test`; `make smoke` builds first):
#
#   packaging/smoke_test.sh dist/scaiflow-box-linux-x86_64
#
# Every sub-command runs from the binary in a clean environment (`env -i`, an empty HOME, a
# fresh data directory) with TMPDIR in the data directory, as the systemd unit sets it. Where
# the machine lets us (root, mount namespaces), /tmp is replaced by a `noexec` tmpfs for the
# whole run, and a control run checks that the binary indeed cannot unpack itself there: so
# the binary is shown to depend on nothing but its TMPDIR. Elsewhere that part is skipped with
# the reason printed. Needs curl and tmux. Ends with "smoke: N passed, 0 failed".
set -euo pipefail

BINARY=$(realpath "${1:?usage: smoke_test.sh BINARY}")
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXAMPLE=$REPO/scaiflow_box/examples/hello-world.flow.json
JWKS=$REPO/packaging/smoke/jwks.json  # a public EC key, for `jwks import`
# A .scaipkg of the hello-world example (package smoke-hello 0.1.0, made by the box's own
# writer), for `catalog import`.
PACKAGE=$REPO/packaging/smoke/hello.scaipkg

# Re-run inside a private mount namespace, where /tmp can be made noexec for this run only.
if [ "${SMOKE_NAMESPACE:-}" = "" ]; then
    if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null \
            && unshare --mount --propagation private true 2>/dev/null; then
        exec unshare --mount --propagation private env SMOKE_NAMESPACE=1 "$0" "$@"
    fi
    export SMOKE_NAMESPACE=0
fi
# The run's files (the binary and fixtures copied in, the data directory) live outside /tmp,
# which is about to be covered: under build/ in the repository, or /var/tmp when the
# repository itself is under /tmp (a CI clone may be).
case "$REPO/" in
    /tmp/*) WORK_BASE=/var/tmp ;;
    *) WORK_BASE=$REPO/build ;;
esac
mkdir -p "$WORK_BASE"
WORK=$(mktemp -d "$WORK_BASE/scaiflow-smoke.XXXXXX")
mkdir -p "$WORK/bin" "$WORK/fixtures"
cp "$BINARY" "$WORK/bin/"
BINARY=$WORK/bin/$(basename "$BINARY")
cp "$EXAMPLE" "$JWKS" "$PACKAGE" "$WORK/fixtures/"
EXAMPLE=$WORK/fixtures/$(basename "$EXAMPLE")
JWKS=$WORK/fixtures/$(basename "$JWKS")
PACKAGE=$WORK/fixtures/$(basename "$PACKAGE")

NOEXEC_TMP=0
if [ "$SMOKE_NAMESPACE" = 1 ] \
        && mount -t tmpfs -o noexec,nosuid,nodev,size=256m smoke-noexec /tmp 2>/dev/null; then
    NOEXEC_TMP=1
    NOEXEC_REASON="/tmp is a noexec tmpfs for this run"
elif [ "$SMOKE_NAMESPACE" = 1 ]; then
    NOEXEC_REASON="skipped the noexec /tmp part: mounting a tmpfs was refused"
elif [ "$(id -u)" != 0 ]; then
    NOEXEC_REASON="skipped the noexec /tmp part: needs root to mount a tmpfs"
else
    NOEXEC_REASON="skipped the noexec /tmp part: no private mount namespace (unshare)"
fi

DATA=$WORK/data
mkdir -p "$WORK/home" "$DATA/tmp"
cd "$WORK"
PASSED=0
SERVER_PID=
TMUX_SOCKET=smoke-$$

cleanup() {
    # The server is two processes (the bootloader and its Python child): SIGTERM to the first
    # stops both; only if that hangs are both killed (SIGKILL would orphan the child).
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        pkill -KILL -P "$SERVER_PID" 2>/dev/null || true
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    tmux -L "$TMUX_SOCKET" kill-server 2>/dev/null || true
    if [ "${KEEP_SMOKE:-}" = "" ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

fail() {
    echo "smoke: FAILED: $*" >&2
    for log in "$WORK"/*.log; do
        [ -f "$log" ] && { echo "--- $log" >&2; tail -n 40 "$log" >&2; }
    done
    echo "smoke: $PASSED passed, 1 failed"
    exit 1
}
pass() { PASSED=$((PASSED + 1)); echo "smoke: ok - $*"; }

# The binary in a clean environment: nothing from the caller's but what is named here.
# SMOKE_ENV="NAME=value" adds one variable.
sfb() {
    env -i HOME="$WORK/home" PATH=/usr/bin:/bin LANG=C.UTF-8 TMPDIR="$DATA/tmp" \
        SCAIFLOW_DATA_DIR="$DATA" "${SMOKE_ENV:-SMOKE=1}" "$BINARY" "$@"
}
exec_sfb() {
    exec env -i HOME="$WORK/home" PATH=/usr/bin:/bin LANG=C.UTF-8 TMPDIR="$DATA/tmp" \
        SCAIFLOW_DATA_DIR="$DATA" "${SMOKE_ENV:-SMOKE=1}" "$BINARY" "$@"
}

echo "smoke: $BINARY ($(du -h "$BINARY" | cut -f1)); $NOEXEC_REASON"

# -- the hazard: a noexec TMPDIR ----------------------------------------------------------
if [ "$NOEXEC_TMP" = 1 ]; then
    if env -i HOME="$WORK/home" PATH=/usr/bin:/bin TMPDIR=/tmp "$BINARY" version \
            >"$WORK/noexec.log" 2>&1; then
        fail "the binary ran with TMPDIR on a noexec mount: the control proves nothing"
    fi
    pass "control: with TMPDIR on the noexec /tmp the binary cannot start ($(head -c 120 "$WORK/noexec.log" | tr '\n' ' '))"
fi

# -- offline commands -----------------------------------------------------------------------
out=$(sfb version) || fail "version"
[[ $out == "scaiflow-box "* ]] || fail "version printed: $out"
pass "version: $out"
out=$(sfb --version) || fail "--version"
[[ $out == "scaiflow-box "*"(commit "*", built "*")" ]] || fail "--version printed: $out"
pass "--version names the commit and the build date: $out"
SMOKE_ENV="SCAIFLOW_API_TOKEN=smoke-secret-value" sfb config >"$WORK/config.txt" 2>&1 \
    || fail "config: $(cat "$WORK/config.txt")"
grep -q "^SCAIFLOW_DATA_DIR .*$DATA .*environment$" "$WORK/config.txt" \
    || fail "config: $(cat "$WORK/config.txt")"
grep -q "smoke-secret-value" "$WORK/config.txt" && fail "config printed a secret"
pass "config (effective settings and their source; the secret masked)"

sfb validate "$EXAMPLE" >"$WORK/validate.log" 2>&1 || fail "validate"
pass "validate $EXAMPLE"
sfb compile "$EXAMPLE" --out "$WORK/manifest.yaml" >"$WORK/compile.log" 2>&1 || fail "compile"
grep -q "^core:" "$WORK/manifest.yaml" || fail "compile wrote no manifest"
pass "compile (CLI) -> manifest.yaml"

sfb init >"$WORK/init.log" 2>&1 || fail "init"
if [ ! -f "$DATA/master.key" ] || [ ! -f "$DATA/scaiflow.db" ]; then
    fail "init made no key or database"
fi
pass "init"

# -- serve ------------------------------------------------------------------------------------
PORT=
start_server() {
    local _attempt
    for _attempt in 1 2 3 4 5; do
        PORT=$((20000 + RANDOM % 20000))
        local started
        started=$(date +%s%N)
        # exec: $! is then the binary itself, which must get the SIGTERM.
        (SMOKE_ENV="SCAIFLOW_METRICS=true"; exec_sfb serve --port "$PORT" >>"$WORK/serve.log" 2>&1) &
        SERVER_PID=$!
        local _i
        for _i in $(seq 1 300); do
            if curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
                STARTUP_MS=$(( ($(date +%s%N) - started) / 1000000 ))
                URL=http://127.0.0.1:$PORT
                return 0
            fi
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.02
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then fail "no 200 on /healthz within 6 s"; fi
        wait "$SERVER_PID" || true
        grep -q "cannot listen" "$WORK/serve.log" || fail "serve exited at start"
    done
    fail "no free port found"
}

stop_server() {
    kill -TERM "$SERVER_PID"
    local code=0
    wait "$SERVER_PID" || code=$?
    SERVER_PID=
    [ "$code" = 0 ] || fail "serve exited $code on SIGTERM"
    if compgen -G "$DATA/tmp/_MEI*" >/dev/null; then fail "the unpacked copy was left behind"; fi
}

start_server
pass "serve: first 200 on /healthz after ${STARTUP_MS} ms (port $PORT)"
compgen -G "$DATA/tmp/_MEI*" >/dev/null || fail "the server did not unpack into its TMPDIR"
pass "unpacked into \$TMPDIR ($DATA/tmp), not /tmp"

TOKEN=$(sfb token mint --sub usr_operator --tenant tnt_local 2>"$WORK/mint.log") \
    || fail "token mint"
pass "token mint"

# call METHOD PATH [curl args...]: prints the status; the body is in $WORK/body
call() {
    local method=$1 path=$2
    shift 2
    curl -sS -o "$WORK/body" -w '%{http_code}' -X "$method" \
        -H "Authorization: Bearer $TOKEN" "$@" "$URL$path"
}
expect() {
    local want=$1
    shift
    local got
    got=$(call "$@") || fail "$* (curl failed)"
    [ "$got" = "$want" ] || fail "$*: $got, wanted $want: $(head -c 300 "$WORK/body")"
}
flow_body() {
    printf '{"name": "%s", "description": "smoke test", "content": %s}' "$1" "$(cat "$EXAMPLE")"
}
json_id() { grep -o '"id":"flow_[a-z0-9]*"' "$WORK/body" | head -1 | cut -d'"' -f4; }

expect 200 GET /api/v1/me
grep -q '"usr_operator"' "$WORK/body" || fail "/api/v1/me is not the operator"
pass "GET /api/v1/me with the minted token"

flow_body "Smoke A" >"$WORK/flow.json"
expect 201 POST /api/v1/flows -H 'Content-Type: application/json' --data-binary @"$WORK/flow.json"
FLOW_A=$(json_id)
[ -n "$FLOW_A" ] || fail "no flow id in $(head -c 200 "$WORK/body")"
expect 200 GET "/api/v1/flows/$FLOW_A"
grep -q '"name":"Smoke A"' "$WORK/body" || fail "read back another flow"
pass "create and read a flow ($FLOW_A)"

printf '{"content": %s, "format": "yaml"}' "$(cat "$EXAMPLE")" >"$WORK/compile.json"
expect 200 POST /api/v1/flows/compile -H 'Content-Type: application/json' \
    --data-binary @"$WORK/compile.json"
grep -q '"errors":\[\]' "$WORK/body" || fail "compile answered errors"
pass "POST /api/v1/flows/compile"

# Live editing: a raw WebSocket handshake (bash's /dev/tcp), then a sync step 1 in a masked
# binary frame (zero mask key). The box answers it from its pycrdt replica, which the binary
# loads only now: a frozen build missing pycrdt fails here.
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'GET /api/v1/flows/%s/sync?token=%s&presence_frames=false HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n' \
    "$FLOW_A" "$TOKEN" >&3
printf '\x82\x84\x00\x00\x00\x00\x00\x00\x01\x00' >&3
timeout 2 cat <&3 >"$WORK/sync.bin" || true
exec 3<&- 3>&-
grep -q 'HTTP/1.1 101' "$WORK/sync.bin" || fail "/sync did not upgrade: $(head -c 200 "$WORK/sync.bin")"
# the box's step 1 (82 04 00 00 01 00), then its answer: a step 2 with an empty document
od -An -tx1 -v "$WORK/sync.bin" | tr -d ' \n' | grep -q '820400000100820500010200' \
    || fail "/sync did not answer a sync step 1: $(od -An -tx1 "$WORK/sync.bin" | tail -3)"
pass "GET /api/v1/flows/{id}/sync answers y-websocket's sync step 1 (pycrdt loads)"

expect 200 GET /api/v1/openapi.json
expect 200 GET /api/v1/docs/swagger-ui-bundle.js
expect 200 GET /api/v1/docs/swagger-ui.css
pass "OpenAPI document and the API reference's assets"
expect 200 GET /metrics
grep -q '^scaiflow_http_requests_total{method="GET",route="/api/v1/flows/{flow_id}",status="200"} 1$' \
    "$WORK/body" || fail "/metrics lacks the flow read: $(head -c 400 "$WORK/body")"
pass "GET /metrics (Prometheus text)"

# The other sub-commands, against the live data directory.
USER_TOKEN=$(sfb token mint --sub usr_smoke --tenant tnt_local --ttl 600 2>/dev/null) \
    || fail "token mint usr_smoke"
curl -sf -o /dev/null -H "Authorization: Bearer $USER_TOKEN" "$URL/api/v1/me" \
    || fail "usr_smoke's first request"
sfb admin grant usr_smoke --role tenant_admin >>"$WORK/cli.log" 2>&1 || fail "admin grant"
sfb admin users --tenant tnt_local >"$WORK/users.txt" 2>>"$WORK/cli.log" || fail "admin users"
grep -q "usr_smoke .*tenant_admin" "$WORK/users.txt" || fail "admin users: $(cat "$WORK/users.txt")"
sfb admin revoke usr_smoke >>"$WORK/cli.log" 2>&1 || fail "admin revoke"
pass "admin grant / users / revoke"
JTI=$(printf '%s' "$USER_TOKEN" | cut -d. -f2 | tr '_-' '/+' | base64 -d 2>/dev/null \
      | grep -o '"jti":"tok_[a-z0-9]*"' | cut -d'"' -f4) || true
[ -n "$JTI" ] || fail "no jti in the minted token"
sfb token revoke "$JTI" >>"$WORK/cli.log" 2>&1 || fail "token revoke"
sleep 0.2
got=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $USER_TOKEN" "$URL/api/v1/me")
[ "$got" = 401 ] || fail "a revoked token answered $got"
pass "token revoke (the server refuses the token at once)"
SMOKE_ENV="SCAIKEY_ALGORITHMS=ES256" sfb jwks import "$JWKS" --issuer https://scaikey.smoke.invalid \
    >>"$WORK/cli.log" 2>&1 || fail "jwks import"
sfb jwks show >"$WORK/jwks.txt" 2>>"$WORK/cli.log" || fail "jwks show"
grep -q "smoke-test-key" "$WORK/jwks.txt" || fail "jwks show: $(cat "$WORK/jwks.txt")"
pass "jwks import / show"

# A tenant that a token brought in, and that holds nothing else, can be deleted.
TENANT_TOKEN=$(sfb token mint --sub ci --tenant tnt_smoke --ttl 600 2>"$WORK/mint-new.log") \
    || fail "token mint --tenant tnt_smoke"
grep -q "tenant tnt_smoke is new on this appliance" "$WORK/mint-new.log" \
    || fail "no notice of a new tenant: $(cat "$WORK/mint-new.log")"
curl -sf -o /dev/null -H "Authorization: Bearer $TENANT_TOKEN" "$URL/api/v1/me" \
    || fail "tnt_smoke's first request"
sfb tenants list >"$WORK/tenants.txt" 2>>"$WORK/cli.log" || fail "tenants list"
grep -q "^tnt_smoke " "$WORK/tenants.txt" || fail "tenants list: $(cat "$WORK/tenants.txt")"
if sfb tenants delete tnt_smoke >"$WORK/tenant-delete.log" 2>&1; then
    fail "tenants delete went ahead while the tenant had a live token"
fi
TENANT_JTI=$(printf '%s' "$TENANT_TOKEN" | cut -d. -f2 | tr '_-' '/+' | base64 -d 2>/dev/null \
      | grep -o '"jti":"tok_[a-z0-9]*"' | cut -d'"' -f4) || true
sfb token revoke "$TENANT_JTI" >>"$WORK/cli.log" 2>&1 || fail "token revoke $TENANT_JTI"
sfb tenants delete tnt_smoke >>"$WORK/cli.log" 2>&1 || fail "tenants delete tnt_smoke"
sfb tenants list >"$WORK/tenants.txt" 2>>"$WORK/cli.log" || fail "tenants list"
grep -q "^tnt_smoke " "$WORK/tenants.txt" && fail "tnt_smoke is still listed"
pass "token mint names a new tenant; tenants list / delete"

expect 200 GET /api/v1/admin/system
grep -q '"commit":' "$WORK/body" || fail "/admin/system: $(head -c 300 "$WORK/body")"
expect 200 GET "/api/v1/admin/logs?limit=50"
grep -q 'listening on' "$WORK/body" || fail "/admin/logs lacks the start-up line"
pass "GET /api/v1/admin/system and /api/v1/admin/logs"

# The package catalog from the CLI while the server runs: the server counts it at once.
sfb catalog import "$PACKAGE" --tenant tnt_local >"$WORK/import.txt" 2>>"$WORK/cli.log" \
    || fail "catalog import: $(tail -1 "$WORK/cli.log")"
grep -qx "smoke-hello@0.1.0" "$WORK/import.txt" || fail "catalog import: $(cat "$WORK/import.txt")"
sfb catalog list --tenant tnt_local >"$WORK/catalog.txt" 2>>"$WORK/cli.log" || fail "catalog list"
grep -q "^tnt_local  *smoke-hello  *0.1.0 " "$WORK/catalog.txt" \
    || fail "catalog list: $(cat "$WORK/catalog.txt")"
sfb catalog export smoke-hello@0.1.0 "$WORK/exported.scaipkg" --tenant tnt_local \
    >>"$WORK/cli.log" 2>&1 || fail "catalog export"
[ "$(head -c 2 "$WORK/exported.scaipkg")" = PK ] || fail "catalog export wrote no zip archive"
expect 200 GET /api/v1/admin/tenants
grep -q '"packages":1' "$WORK/body" || fail "the server does not count the package: $(head -c 300 "$WORK/body")"
pass "catalog import / list / export while serving"

# The catalog through the API: publish the stored flow, download it, import the file back.
printf '{"package_id": "smoke-api", "name": "Smoke API", "flow_id": "%s"}' "$FLOW_A" \
    >"$WORK/publish.json"
expect 201 POST /api/v1/catalog/publish -H 'Content-Type: application/json' \
    --data-binary @"$WORK/publish.json"
grep -q '"version":"0.1.0"' "$WORK/body" || fail "publish: $(head -c 300 "$WORK/body")"
expect 200 GET /api/v1/catalog/smoke-api/versions/0.1.0/download
cp "$WORK/body" "$WORK/smoke-api.scaipkg"
[ "$(head -c 2 "$WORK/smoke-api.scaipkg")" = PK ] || fail "the download is no zip archive"
expect 200 POST /api/v1/catalog/import -H 'Content-Type: application/zip' \
    --data-binary @"$WORK/smoke-api.scaipkg"  # the same bytes: nothing stored
expect 204 DELETE /api/v1/catalog/smoke-api
expect 201 POST /api/v1/catalog/import -H 'Content-Type: application/zip' \
    --data-binary @"$WORK/smoke-api.scaipkg"  # brings the package back, as the next patch
grep -q '"version":"0.1.1"' "$WORK/body" || fail "import: $(head -c 300 "$WORK/body")"
pass "catalog through the API: publish, download, import (200 for the same bytes, 201 after a delete)"

# Rotating the master key while the server runs: the server keeps serving with the new key.
old_key=$(cat "$DATA/master.key")
sfb keys rotate >>"$WORK/cli.log" 2>&1 || fail "keys rotate"
[ "$(cat "$DATA/master.key")" != "$old_key" ] || fail "keys rotate left the same master.key"
expect 200 GET "/api/v1/flows/$FLOW_A"
pass "keys rotate while serving (new master.key; the server still answers)"
old_kek=$(sfb keys list 2>>"$WORK/cli.log" | awk '$2 == "retired" {print $1}')
[ -n "$old_kek" ] && [ -f "$DATA/master.key.retired-$old_kek" ] \
    || fail "keys list: no retired key after the rotation"
if sfb keys prune "$old_kek" >>"$WORK/cli.log" 2>&1; then
    fail "keys prune went ahead without --yes"
fi
sfb keys prune "$old_kek" --yes >>"$WORK/cli.log" 2>&1 || fail "keys prune --yes"
[ ! -e "$DATA/master.key.retired-$old_kek" ] || fail "keys prune left the retired key"
pass "keys list / keys prune (the rotated-out key was kept, then removed on request)"

# -- the TUI, in a real terminal --------------------------------------------------------------
tmux -L "$TMUX_SOCKET" new-session -d -x 120 -y 40 \
    "env -i HOME=$WORK/home PATH=/usr/bin:/bin LANG=C.UTF-8 TERM=xterm-256color TMPDIR=$DATA/tmp SCAIFLOW_DATA_DIR=$DATA $BINARY tui --url $URL; echo \$? >$WORK/tui.exit; sleep 30"
for _ in $(seq 1 150); do
    tmux -L "$TMUX_SOCKET" capture-pane -p >"$WORK/tui.screen" 2>/dev/null || true
    grep -q "usr_operator" "$WORK/tui.screen" && break
    [ -f "$WORK/tui.exit" ] && fail "tui exited $(cat "$WORK/tui.exit"): $(cat "$WORK/tui.screen")"
    sleep 0.1
done
grep -q "usr_operator" "$WORK/tui.screen" || fail "the TUI never showed the Dashboard: $(cat "$WORK/tui.screen")"
grep -q "9 Data directory" "$WORK/tui.screen" || fail "the nav does not name every area: $(cat "$WORK/tui.screen")"
# Every area once (a widget the build missed fails only when its screen opens).
for key in 2 3 4 5 6 7 8 9 1; do
    tmux -L "$TMUX_SOCKET" send-keys "$key"
    sleep 0.7
    [ -f "$WORK/tui.exit" ] && fail "tui exited on screen $key: $(cat "$WORK/tui.screen")"
    tmux -L "$TMUX_SOCKET" capture-pane -p >"$WORK/tui.screen" 2>/dev/null || true
    grep -q "Traceback" "$WORK/tui.screen" && fail "screen $key: $(cat "$WORK/tui.screen")"
done
# A data-directory tool: the binary runs its own `backup` as a child process.
tmux -L "$TMUX_SOCKET" send-keys 9
sleep 0.5
tmux -L "$TMUX_SOCKET" send-keys b
sleep 0.5
tmux -L "$TMUX_SOCKET" send-keys -l "$WORK/tui-backup.db"
tmux -L "$TMUX_SOCKET" send-keys Enter
for _ in $(seq 1 150); do [ -s "$WORK/tui-backup.db" ] && break; sleep 0.1; done
[ -s "$WORK/tui-backup.db" ] || { tmux -L "$TMUX_SOCKET" capture-pane -p >"$WORK/tui.screen" 2>/dev/null; fail "the TUI's backup wrote nothing: $(cat "$WORK/tui.screen")"; }
tmux -L "$TMUX_SOCKET" send-keys 1
sleep 0.5
tmux -L "$TMUX_SOCKET" send-keys q
for _ in $(seq 1 100); do [ -f "$WORK/tui.exit" ] && break; sleep 0.1; done
[ "$(cat "$WORK/tui.exit" 2>/dev/null)" = 0 ] || fail "tui did not quit with 0 on q"
tmux -L "$TMUX_SOCKET" kill-server 2>/dev/null || true
pass "tui: started in tmux, named every area, opened areas 1-9, ran a backup from the Data directory, quit with q"

# -- backup while serving, restore while stopped ------------------------------------------
sfb backup "$WORK/backup.db" >>"$WORK/cli.log" 2>&1 || fail "backup while serving"
flow_body "Smoke B (after the backup)" >"$WORK/flow-b.json"
expect 201 POST /api/v1/flows -H 'Content-Type: application/json' --data-binary @"$WORK/flow-b.json"
FLOW_B=$(json_id)
if sfb restore "$WORK/backup.db" >"$WORK/restore-refused.log" 2>&1; then
    fail "restore went ahead while the server was running"
fi
grep -q "server" "$WORK/restore-refused.log" || fail "restore refusal: $(cat "$WORK/restore-refused.log")"
pass "backup while serving; restore refused while serving"

stop_server
pass "SIGTERM: drained, exit 0, unpacked copy removed"

sfb restore "$WORK/backup.db" >"$WORK/restore.log" 2>&1 || fail "restore: $(cat "$WORK/restore.log")"
compgen -G "$DATA/scaiflow.db.before-restore-*" >/dev/null || fail "the old database was not kept"
start_server
expect 200 GET "/api/v1/flows/$FLOW_A"
expect 404 GET "/api/v1/flows/$FLOW_B"
pass "restore: flow A is back, flow B (made after the backup) is gone, old database kept"
stop_server

echo "smoke: $PASSED passed, 0 failed"
