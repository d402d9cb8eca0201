#!/usr/bin/env bash
# Install the agent as a user does and check that it works outside the checkout:
# build the wheel, install it into a fresh venv in a temporary directory, and from
# another directory run `anpr-agent --version`, `check-config` on the example
# config copied into an /etc-like tree with a dev PKI (and refusals of a missing
# and of a changed model card), and `anpr-agent read --json` on a photo.
# Called by `make test` (target install-check). Needs the checkout's .venv (make deps)
# for the build and the dev PKI; the installed agent needs nothing of the checkout.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
dev="$repo/.venv/bin/python"
MAX_WHEEL_BYTES=$((25 * 1024 * 1024))
start=$SECONDS

work="$(mktemp -d /tmp/anpr-install-check.XXXXXX)"
trap 'rm -rf "$work"' EXIT
say() { printf 'install-check: %s\n' "$*"; }
fail() { printf 'install-check: FAILED: %s\n' "$*" >&2; exit 1; }

# 1. The wheel, built from a copy of the checkout's files (no build/ or egg-info left behind).
mkdir -p "$work/src" "$work/dist"
git -C "$repo" ls-files -z --cached --others --exclude-standard \
  | (cd "$repo" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' _) \
  | tar -C "$repo" --null -T - -cf - | tar -C "$work/src" -xf -
"$dev" -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir "$work/dist" "$work/src" \
  >"$work/pip.log" 2>&1 || { cat "$work/pip.log" >&2; fail "pip wheel"; }
wheel="$(ls "$work"/dist/anpr_edge-*.whl)"
size=$(stat -c %s "$wheel")
say "built $(basename "$wheel") ($((size / 1024)) KiB)"
[ "$size" -lt "$MAX_WHEEL_BYTES" ] || fail "wheel is $size bytes, over $MAX_WHEEL_BYTES"
"$dev" - "$wheel" <<'EOF' || fail "the wheel lacks a shipped model or card"
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
need = {f"agent/recognition/models/{n}" for n in (
    "detector.onnx", "detector.card.json", "reader.onnx", "reader.card.json",
    "screen.onnx", "screen.card.json")}
missing = sorted(need - names)
train = sorted(n for n in names if n.startswith("models/"))
if missing or train:
    sys.exit(f"missing {missing}, training files {train[:3]}")
EOF

# 2. A fresh venv outside the checkout; dependencies at the versions the tests ran with.
"$PYTHON" -m venv --without-pip "$work/venv"
"$dev" -m pip freeze --exclude-editable --exclude anpr-edge > "$work/constraints.txt"
"$dev" -m pip --python "$work/venv/bin/python" install --quiet --no-compile --constraint "$work/constraints.txt" "$wheel" \
  >"$work/pip.log" 2>&1 || { cat "$work/pip.log" >&2; fail "pip install of the wheel"; }
agent="$work/venv/bin/anpr-agent"
say "installed into a fresh venv in $(( SECONDS - start )) s"

# 3. From another directory, with nothing of the checkout on the path.
mkdir -p "$work/elsewhere"
cd "$work/elsewhere"
export PYTHONPATH= PYTHONNOUSERSITE=1
unset CREDENTIALS_DIRECTORY
"$agent" --version | tee "$work/version.txt"
for role in detector reader screen; do
  sha=$("$dev" -c 'import json,sys; print(json.load(open(sys.argv[1]))["sha256"])' \
    "$repo/agent/recognition/models/$role.card.json")
  grep -q "sha256:$sha" "$work/version.txt" || fail "--version does not name $role's sha256"
done
grep -q "does not match" "$work/version.txt" && fail "--version: a model does not match its card"

# The example config, unchanged, in an /etc-like tree with a dev PKI as its credentials.
etc="$work/etc/anpr-agent"
install -d -m 0755 "$etc"
install -m 0644 "$repo/config/agent.example.toml" "$etc/agent.toml"
"$dev" -m simulator pki init "$work/pki" --camera-id be-gent-0042 >/dev/null
creds="$etc/credentials"
install -d -m 0700 "$creds"
install -m 0600 "$work/pki/device-sign.key" "$creds/device-sign.key"
install -m 0600 "$work/pki/device.key" "$creds/police-client.key"
install -m 0600 "$work/pki/civil-device.key" "$creds/civil-client.key"
install -m 0644 "$work/pki/backoffice-seal.pub" "$creds/backoffice-seal.pub"
install -m 0644 "$work/pki/police-ca.crt" "$creds/police-ca.crt"
install -m 0644 "$work/pki/device.crt" "$creds/police-client.crt"
install -m 0644 "$work/pki/civil-ca.crt" "$creds/civil-ca.crt"
install -m 0644 "$work/pki/civil-device.crt" "$creds/civil-client.crt"
out=$(CREDENTIALS_DIRECTORY="$creds" "$agent" check-config "$etc/agent.toml") \
  || fail "check-config refused the example config"
say "$out"
case "$out" in
  *"not checked"*) fail "check-config left credential files unchecked" ;;
  *"reader "*"(shipped)"*) ;;
  *) fail "check-config did not load the shipped reader" ;;
esac

# A missing card, then a model that no longer matches its card: exit 2, one line each.
refused() {  # refused WHAT: check-config must exit 2 with exactly one line on stderr
  local rc=0
  CREDENTIALS_DIRECTORY="$creds" "$agent" check-config "$etc/agent.toml" \
    >/dev/null 2>"$work/err" || rc=$?
  [ "$rc" -eq 2 ] || fail "check-config with $1: exit $rc, not 2"
  [ "$(wc -l < "$work/err")" -eq 1 ] || fail "check-config with $1: not one line: $(cat "$work/err")"
  say "refused $1: $(cat "$work/err")"
}
ANPR_RECOGNITION__READER_CARD="$work/vendor/reader.card.json" refused "a missing reader card"
mkdir -p "$work/vendor"
cp "$repo/agent/recognition/models/reader.card.json" "$repo/agent/recognition/models/reader.onnx" \
  "$work/vendor/"
printf '\0' >> "$work/vendor/reader.onnx"
ANPR_RECOGNITION__READER_CARD="$work/vendor/reader.card.json" refused "a changed reader model"

# A photo, read by the installed agent (the plate renderer's synthetic photo).
cp "$repo/tests/data/synthetic-photo.jpg" photo.jpg
want=$("$dev" -c 'import json,sys; print(json.load(open(sys.argv[1]))["text"])' \
  "$repo/tests/data/synthetic-photo.json")
line=$("$agent" read --json photo.jpg) || fail "anpr-agent read failed"
say "$line"
got=$("$dev" -c 'import json,sys; p=json.loads(sys.argv[1])["plates"]; print(p[0]["text"] if p else "")' "$line")
[ "$got" = "$want" ] || fail "read '$got', the photo shows '$want'"
"$work/venv/bin/python" -c 'import agent, sys; sys.exit(0 if "/site-packages/" in agent.__file__ else agent.__file__)' \
  || fail "the agent did not run from the installed package"
say "ok in $(( SECONDS - start )) s"
