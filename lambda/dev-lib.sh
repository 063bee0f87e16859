# Sourced by ./dev: the Lambda emulator part. cargo-lambda (a pip package holding one static
# binary) is installed from requirements.lock into a venv cached under $CACHE, keyed by the
# lock's hash like LocalStack's, so fresh clones (CI) reuse it and a changed pin builds a new
# one. The tests find it through FULFIL_DEV_CARGO_LAMBDA (./dev env).

LAMBDA_LOCK="$ROOT/lambda/requirements.lock"

lambda_venv() {
  printf '%s/cargo-lambda-venv-%s' "$CACHE" "$(sha256sum "$LAMBDA_LOCK" | cut -c1-12)"
}

# The emulator's executable (there once lambda_ensure_venv has run).
lambda_emulator() { printf '%s/bin/cargo-lambda' "$(lambda_venv)"; }

# Installs the pinned cargo-lambda once per lock file; returns 1, saying why, when it cannot
# (the caller decides whether that fails the run).
lambda_ensure_venv() {
  local venv; venv=$(lambda_venv)
  [ -f "$venv/.complete" ] && [ -x "$(lambda_emulator)" ] && return 0
  local py; py=$(command -v python3) || { apt_install python3; py=$(command -v python3); } || return 1
  step "lambda emulator: installing cargo-lambda from $LAMBDA_LOCK into $venv (once per lock file)"
  rm -rf "$venv"; mkdir -p "$CACHE"
  "$py" -m venv "$venv" 2>/dev/null || { apt_install python3-venv; rm -rf "$venv"; "$py" -m venv "$venv"; } || {
    say "dev: could not create a venv with $py"; return 1; }
  local log="$CACHE/cargo-lambda-venv-install.log"
  "$venv/bin/pip" install --disable-pip-version-check --no-deps --require-hashes -r "$LAMBDA_LOCK" >"$log" 2>&1 || {
    tail -n 20 "$log" >&2; say "dev: installing cargo-lambda from $LAMBDA_LOCK failed (full log: $log)"; return 1; }
  [ -x "$(lambda_emulator)" ] || { say "dev: the cargo-lambda wheel installed no $(lambda_emulator)"; return 1; }
  touch "$venv/.complete"
}

# ./dev test's part: the emulator installed before the tests run. Without it the Lambda
# tier's tests fail (naming this step), so a run that cannot install it fails, in CI too.
lambda_tier_ready() {
  step "the Lambda emulator tier: cargo-lambda's Runtime API serving the built bootstrap"
  lambda_ensure_venv || { say "dev: the Lambda emulator tier cannot run (no cargo-lambda); its tests fail"; return 1; }
}

# ./dev emulator: install it alone (for running the tests or the bootstrap by hand).
cmd_emulator() {
  lambda_ensure_venv || die "cargo-lambda is not installed"
  lambda_emulator; echo
}
