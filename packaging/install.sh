#!/bin/sh
# Install (or upgrade) scaiflow-box on a Linux host with systemd. Needs no network.
#
#   sudo ./install.sh [--binary PATH] [--no-start]
#   ./install.sh --prefix /tmp/root --dry-run        # show what would be done
#
# Copy three files to the host first: the binary (scaiflow-box-linux-<arch>), this script and
# scaiflow-box.service, side by side. The script is idempotent: running it again with a new
# binary is the upgrade (the service is restarted if it was running; the database is migrated
# when the new binary starts). It installs
#   <prefix>/usr/local/bin/scaiflow-box              the binary (0755)
#   <prefix>/etc/systemd/system/scaiflow-box.service the unit (0644)
#   <prefix>/etc/scaiflow-box/scaiflow-box.env       settings (0640, root:scaiflow-box; kept
#                                                    if present: it is the operator's file)
# and, only when the prefix is / : the system user and group `scaiflow-box`, then
# `systemctl daemon-reload`, `enable` and (re)start. The data directory
# /var/lib/scaiflow-box is made by systemd (StateDirectory=) on the first start.
#
# Options:
#   --binary PATH   the binary, when it is not next to this script
#   --prefix DIR    install under DIR (packaging, tests): no user, no systemctl
#   --dry-run       print every step without doing it
#   --no-start      install and enable, but do not (re)start the service
#   -h, --help      this text
set -eu

PREFIX=/
BINARY=
DRY_RUN=0
START=1
HERE=$(cd "$(dirname "$0")" && pwd)
ARCH=$(uname -m)
USER_NAME=scaiflow-box

# The comment block at the top of this file, without its `# `.
usage_text() {
    sed -n '2,/^[^#]/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}
usage() {  # a usage error: the text on stderr, exit 2
    usage_text >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || usage; PREFIX=$2; shift 2 ;;
        --prefix=*) PREFIX=${1#*=}; shift ;;
        --binary) [ $# -ge 2 ] || usage; BINARY=$2; shift 2 ;;
        --binary=*) BINARY=${1#*=}; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        --no-start) START=0; shift ;;
        -h|--help) usage_text; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage ;;
    esac
done

if [ -z "$BINARY" ]; then
    for candidate in "$HERE/scaiflow-box-linux-$ARCH" "$PWD/scaiflow-box-linux-$ARCH" \
                     "$HERE/../dist/scaiflow-box-linux-$ARCH"; do
        if [ -f "$candidate" ]; then BINARY=$candidate; break; fi
    done
fi
if [ -z "$BINARY" ] || [ ! -f "$BINARY" ]; then
    echo "install.sh: no binary; put scaiflow-box-linux-$ARCH next to this script or pass --binary PATH" >&2
    exit 1
fi
UNIT_SOURCE=$HERE/scaiflow-box.service
[ -f "$UNIT_SOURCE" ] || { echo "install.sh: $UNIT_SOURCE is missing" >&2; exit 1; }

ROOT=${PREFIX%/}
SYSTEM=0
[ -z "$ROOT" ] && SYSTEM=1
BIN_DEST=$ROOT/usr/local/bin/scaiflow-box
UNIT_DEST=$ROOT/etc/systemd/system/scaiflow-box.service
ENV_DEST=$ROOT/etc/scaiflow-box/scaiflow-box.env

say() { echo "install.sh: $*"; }
run() {
    if [ "$DRY_RUN" = 1 ]; then say "would run: $*"; else "$@"; fi
}

if [ "$SYSTEM" = 1 ] && [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root to install into / (or pass --prefix DIR)" >&2
    exit 1
fi

# Copy `src` to `dest` with `mode` unless it is already identical; the new file is renamed
# into place, so a running binary is never written over.
place() {
    src=$1; dest=$2; mode=$3
    if [ -f "$dest" ] && cmp -s "$src" "$dest"; then
        run chmod "$mode" "$dest"
        say "unchanged: $dest"
        return 0
    fi
    run mkdir -p "$(dirname "$dest")"
    run cp "$src" "$dest.new"
    run chmod "$mode" "$dest.new"
    run mv -f "$dest.new" "$dest"
    if [ "$DRY_RUN" = 0 ]; then say "installed: $dest"; fi
    CHANGED=1
}

CHANGED=0
if [ "$SYSTEM" = 1 ]; then
    if getent group "$USER_NAME" >/dev/null 2>&1; then :; else
        run groupadd --system "$USER_NAME"
    fi
    if id "$USER_NAME" >/dev/null 2>&1; then
        say "user $USER_NAME exists"
    else
        run useradd --system --gid "$USER_NAME" --home-dir /var/lib/scaiflow-box \
            --no-create-home --shell /usr/sbin/nologin \
            --comment "scaiflow-box appliance" "$USER_NAME"
    fi
fi

place "$BINARY" "$BIN_DEST" 0755
place "$UNIT_SOURCE" "$UNIT_DEST" 0644

if [ -f "$ENV_DEST" ]; then
    say "kept: $ENV_DEST (your settings)"
else
    run mkdir -p "$(dirname "$ENV_DEST")"
    if [ "$DRY_RUN" = 1 ]; then
        say "would write: $ENV_DEST"
    else
        # The binary's OpenSSL looks for CA certificates where Debian keeps them; name this
        # host's bundle so HTTPS to ScaiKey/ScaiGrid verifies on other distributions too.
        CA_BUNDLE=
        for candidate in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt \
                         /etc/ssl/ca-bundle.pem /etc/ssl/cert.pem; do
            if [ -f "$ROOT$candidate" ]; then CA_BUNDLE=$candidate; break; fi
        done
        umask 027
        {
            echo "# scaiflow-box settings (read by systemd; docs/operations.md lists every variable)."
            echo "# SCAIFLOW_API_HOST=127.0.0.1"
            echo "# SCAIFLOW_API_PORT=8001"
            echo "# SCAIKEY_BASE_URL=https://scaikey.example.internal"
            echo "# SCAIFLOW_SCAIKEY_CLIENT_ID="
            echo "# SCAIKEY_AUDIENCE=  (the aud of ScaiKey tokens; default: the client id; one is required)"
            echo "# SCAIKEY_JWKS_FILE=/etc/scaiflow-box/jwks.json"
            echo "# SCAIFLOW_METRICS=true"
            echo "# CA certificates for HTTPS upstreams (add your site's CA to this bundle):"
            if [ -n "$CA_BUNDLE" ]; then
                echo "SSL_CERT_FILE=$CA_BUNDLE"
            else
                echo "# SSL_CERT_FILE=/path/to/ca-bundle.pem"
            fi
        } > "$ENV_DEST"
        chmod 0640 "$ENV_DEST"
        say "installed: $ENV_DEST"
    fi
    if [ "$SYSTEM" = 1 ]; then run chgrp "$USER_NAME" "$ENV_DEST"; fi
fi

if [ "$SYSTEM" = 1 ] && command -v systemctl >/dev/null 2>&1; then
    run systemctl daemon-reload
    run systemctl enable scaiflow-box.service
    if [ "$START" = 1 ]; then
        if systemctl is-active --quiet scaiflow-box.service 2>/dev/null; then
            if [ "$CHANGED" = 1 ]; then run systemctl restart scaiflow-box.service; fi
        else
            run systemctl start scaiflow-box.service
        fi
    fi
fi

if [ "$DRY_RUN" = 1 ]; then
    say "dry run: nothing was changed"
else
    say "$("$BIN_DEST" version 2>&1 || echo "$BIN_DEST does not run on this host")"
fi
