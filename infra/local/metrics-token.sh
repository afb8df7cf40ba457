# Sourced by run.sh and run-split.sh: GET /metrics needs `Authorization: Bearer
# $TANDEM_METRICS_TOKEN` (it is never public; nginx does not route it). Without the variable, a
# development token is generated once into <data dir>/metrics-token (mode 600) and exported.
if [ -z "${TANDEM_METRICS_TOKEN:-}" ]; then
  _metrics_dir=${TANDEM_DATA_DIR:-data}
  mkdir -p "$_metrics_dir"
  if [ ! -s "$_metrics_dir/metrics-token" ]; then
    (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$_metrics_dir/metrics-token")
    echo "==> generated a development metrics token in $_metrics_dir/metrics-token (mode 600)"
  fi
  TANDEM_METRICS_TOKEN=$(cat "$_metrics_dir/metrics-token")
  export TANDEM_METRICS_TOKEN
  echo "==> /metrics: curl -H \"Authorization: Bearer \$(cat $_metrics_dir/metrics-token)\" <process URL>/metrics"
fi
