#!/bin/sh
# Installs hostwall: the binary, the systemd unit and the example config.
#
#   sudo scripts/install.sh                       # onto this machine
#   DESTDIR=/tmp/pkg scripts/install.sh           # into a staging root (packaging, tests)
#
#   $PREFIX/bin/hostwall                    0755  (PREFIX defaults to /usr/local)
#   $UNITDIR/hostwall.service               0644  (UNITDIR defaults to /etc/systemd/system;
#                                                  ExecStart follows PREFIX)
#   $PREFIX/share/hostwall/examples/*.yaml  0644  (always refreshed)
#   /etc/hostwall/                          0755  the examples are copied in only while it holds
#                                                 no config; existing config is never touched
#
# It starts nothing: enabling the service is the operator's step (printed at the end).
# The agent refuses group/world-writable config, so everything is installed with umask 022.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
UNITDIR=${UNITDIR:-/etc/systemd/system}
BINARY=${BINARY:-$ROOT/dist/hostwall}
CONFDIR=/etc/hostwall

die() { echo "install: $*" >&2; exit 1; }
[ -x "$BINARY" ] || die "$BINARY is missing; run 'npm run build' first"
[ -n "$DESTDIR" ] || [ "$(id -u)" = 0 ] || die "run as root, or set DESTDIR to install into a staging directory"
case "$PREFIX" in /*) ;; *) die "PREFIX must be an absolute path, got '$PREFIX'" ;; esac
case "$PREFIX" in *[!A-Za-z0-9/._-]*) die "PREFIX may only hold letters, digits and / . _ -" ;; esac

umask 022
EXAMPLES="$PREFIX/share/hostwall/examples"
install -d -m 0755 "$DESTDIR$PREFIX/bin" "$DESTDIR$UNITDIR" "$DESTDIR$EXAMPLES" "$DESTDIR$CONFDIR"
install -m 0755 "$BINARY" "$DESTDIR$PREFIX/bin/hostwall"

unit=$(mktemp)
trap 'rm -f "$unit"' EXIT
sed "s|^ExecStart=/usr/local/bin/hostwall |ExecStart=$PREFIX/bin/hostwall |" "$ROOT/systemd/hostwall.service" >"$unit"
install -m 0644 "$unit" "$DESTDIR$UNITDIR/hostwall.service"

for f in "$ROOT"/rules/*.yaml; do install -m 0644 "$f" "$DESTDIR$EXAMPLES/"; done
if [ -z "$(find "$DESTDIR$CONFDIR" \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) -print 2>/dev/null | head -n 1)" ]; then
  for f in "$ROOT"/rules/*.yaml; do install -m 0644 "$f" "$DESTDIR$CONFDIR/"; done
  config="example config copied to $CONFDIR"
else
  config="existing config in $CONFDIR left as it is"
fi

echo "installed $PREFIX/bin/hostwall, $UNITDIR/hostwall.service, $EXAMPLES; $config${DESTDIR:+ (under $DESTDIR)}"
if [ -z "$DESTDIR" ]; then
  cat <<NEXT
next:
  sudoedit $CONFDIR/10-host-endpoint.yaml     # spec.node = $(hostname), the interface, its addresses
  sudo hostwall check && sudo hostwall plan
  sudo systemctl daemon-reload && sudo systemctl enable --now hostwall
  hostwall status
NEXT
fi
