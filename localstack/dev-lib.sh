# Sourced by ./dev: the LocalStack part. LocalStack runs in host mode from a venv built from
# requirements.lock; the venv is cached under $CACHE keyed by the lock's hash, so fresh clones
# (CI) reuse it and a changed lock builds a new one.

ls_venv() {
  printf '%s/localstack-venv-%s' "$CACHE" "$(sha256sum "$LS_LOCK" | cut -c1-12)"
}

# A Python 3.11 interpreter: the pinned LocalStack does not run on newer ones.
ls_python() {
  local py
  for py in python3.11 python3; do
    if command -v "$py" >/dev/null 2>&1 && [ "$("$py" -c 'import sys; print(sys.version_info[:2] == (3, 11))' 2>/dev/null)" = True ]; then
      command -v "$py"; return
    fi
  done
  return 1
}

ls_ensure_venv() {
  local venv; venv=$(ls_venv)
  [ -f "$venv/.complete" ] && return 0
  local py
  py=$(ls_python) || { apt_install python3.11 python3.11-venv; py=$(ls_python) || die "localstack needs Python 3.11; none found after install"; }
  step "localstack: building its venv in $venv (once per lock file; a few minutes)"
  rm -rf "$venv"; mkdir -p "$CACHE"
  "$py" -m venv "$venv" 2>/dev/null || { apt_install python3.11-venv; rm -rf "$venv"; "$py" -m venv "$venv"; } ||
    die "could not create a venv with $py"
  local log="$CACHE/localstack-venv-install.log"
  { "$venv/bin/pip" install --disable-pip-version-check --no-deps -r "$LS_LOCK" && "$venv/bin/pip" check; } >"$log" 2>&1 ||
    { tail -n 20 "$log" >&2; die "installing LocalStack from $LS_LOCK failed (full log: $log)"; }
  touch "$venv/.complete"
}

# The settings the running LocalStack was started with (ls_launch records them).
ls_settings() {
  cat "$1/settings" 2>/dev/null || printf 'not recorded (started before ./dev recorded its settings)\n'
}

# ls_launch PORT DIR LOG PIDFILE: starts LocalStack in its own session (so `down` can stop
# the whole process group) with everything it writes kept under DIR.
ls_launch() {
  local port=$1 dir=$2 log=$3 pidfile=$4
  mkdir -p "$dir/fs"
  (
    cd "$dir"
    export GATEWAY_LISTEN="127.0.0.1:$port" LOCALSTACK_HOST="127.0.0.1:$port"
    # hypercorn binds the address given; the default twisted server listens on every interface.
    # Queue URLs with the `path` strategy resolve without DNS (the stack is offline); the
    # Terraform apply tier's private LocalStack asks for `off`, whose URLs the AWS provider
    # parses (FULFIL_DEV_SQS_ENDPOINT_STRATEGY).
    # Secrets Manager (moto-backed, offline): the Lambda tier's secret-held database URL. This
    # LocalStack serves every service it has on demand; SERVICES names what the stack relies on.
    export GATEWAY_SERVER=hypercorn SERVICES=sqs,sns,secretsmanager DNS_ADDRESS=0
    export SQS_ENDPOINT_STRATEGY="${FULFIL_DEV_SQS_ENDPOINT_STRATEGY:-path}"
    # host mode: keep state under .dev and make no calls home (there is no network here).
    export OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT="$dir/fs" SKIP_SSL_CERT_DOWNLOAD=1 DISABLE_EVENTS=1
    export PERSISTENCE=0 LOCALSTACK_CLI=0
    # The emulator's own overhead off, behaviour unchanged: LocalStack otherwise sends two
    # CloudWatch PutMetricData calls per SQS message sent and one per receive and delete, each
    # an HTTP request back into its own gateway (nothing here reads them), and makes its
    # internal calls (SNS delivering to SQS) over HTTP too. Measured with py-spy on the demo:
    # the metric calls alone held the interpreter ~10 % of the time, and each FIFO topic
    # delivers on one thread whose pace is that internal HTTP round trip. Set either to 0
    # before `./dev up` to compare (README, the demo section).
    export SQS_DISABLE_CLOUDWATCH_METRICS="${SQS_DISABLE_CLOUDWATCH_METRICS:-1}"
    export IN_MEMORY_CLIENT="${IN_MEMORY_CLIENT:-1}"
    # What it runs with, for the figures measured on it (`./dev bench` passes it on).
    printf 'SQS_DISABLE_CLOUDWATCH_METRICS=%s IN_MEMORY_CLIENT=%s\n' \
      "$SQS_DISABLE_CLOUDWATCH_METRICS" "$IN_MEMORY_CLIENT" >"$dir/settings"
    setsid "$(ls_venv)/bin/python" -m localstack.runtime.main >>"$log" 2>&1 </dev/null &
    echo $! >"$pidfile"
  )
}
