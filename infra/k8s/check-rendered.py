#!/usr/bin/env python3
"""Invariants of a rendered Tandem overlay that a schema cannot see (run by validate.sh).

    check-rendered.py RENDERED.yaml

- every Deployment runs /usr/local/bin/tandem-<component>, probes /readyz and /healthz, has a
  preStop sleep, and a termination grace longer than preStop + TANDEM_DRAIN_SECS
- the internal URLs in the ConfigMap point at Services that exist
- every Service selects a Deployment; every PodDisruptionBudget and HPA targets one
- no Ingress routes /internal except one that denies every source address
- the WebSocket Ingress has hour-long timeouts
"""

import sys

import yaml  # PyYAML, a dependency of kubernetes-validate in the validate.sh venv


def main(path: str) -> int:
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    errors: list[str] = []
    by_kind: dict[str, list[dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    config = {}
    for cm in by_kind.get("ConfigMap", []):
        if cm["metadata"]["name"].startswith("tandem"):
            config.update(cm.get("data", {}))
    drain = int(config.get("TANDEM_DRAIN_SECS", "10"))
    services = {s["metadata"]["name"]: s for s in by_kind.get("Service", [])}
    deployments = {d["metadata"]["name"]: d for d in by_kind.get("Deployment", [])}

    for name, dep in deployments.items():
        spec = dep["spec"]["template"]["spec"]
        labels = dep["spec"]["template"]["metadata"]["labels"]
        c = spec["containers"][0]
        component = labels.get("app.kubernetes.io/component")
        want = f"/usr/local/bin/tandem-{component}"
        if c.get("command", [None])[0] != want:
            errors.append(f"{name}: command {c.get('command')} does not run {want}")
        if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
            errors.append(f"{name}: readinessProbe is not GET /readyz")
        if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
            errors.append(f"{name}: livenessProbe is not GET /healthz")
        pre = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
        if len(pre) != 2 or pre[0] != "sleep":
            errors.append(f"{name}: no preStop sleep")
        else:
            grace = spec.get("terminationGracePeriodSeconds", 30)
            if grace <= int(pre[1]) + drain:
                errors.append(f"{name}: terminationGracePeriodSeconds {grace} <= preStop {pre[1]} + drain {drain}")
        if "limits" not in c.get("resources", {}) or "requests" not in c.get("resources", {}):
            errors.append(f"{name}: no resource requests and limits")
        if not spec.get("securityContext", {}).get("runAsNonRoot"):
            errors.append(f"{name}: not runAsNonRoot")
    for var in ("TANDEM_AUTH_URL", "TANDEM_BROKER_URL", "TANDEM_BILLING_URL"):
        host = config.get(var, "").removeprefix("http://").split(":")[0].split("/")[0]
        if host not in services:
            errors.append(f"ConfigMap {var}={config.get(var)!r} names no Service")
    for name, svc in services.items():
        sel = svc["spec"].get("selector", {})
        if not any(sel.items() <= d["spec"]["template"]["metadata"]["labels"].items() for d in deployments.values()):
            errors.append(f"Service {name} selects no Deployment")
    for pdb in by_kind.get("PodDisruptionBudget", []):
        sel = pdb["spec"]["selector"]["matchLabels"]
        if not any(sel.items() <= d["spec"]["template"]["metadata"]["labels"].items() for d in deployments.values()):
            errors.append(f"PodDisruptionBudget {pdb['metadata']['name']} selects no Deployment")
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        if hpa["spec"]["scaleTargetRef"]["name"] not in deployments:
            errors.append(f"HPA {hpa['metadata']['name']} targets no Deployment")
    for ing in by_kind.get("Ingress", []):
        ann = ing["metadata"].get("annotations", {})
        denies_all = "0.0.0.0/0" in ann.get("nginx.ingress.kubernetes.io/denylist-source-range", "")
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                backend = p["backend"]["service"]["name"]
                if backend not in services:
                    errors.append(f"Ingress {ing['metadata']['name']}: {p['path']} -> {backend}, no such Service")
                if p["path"].startswith("/internal") and not denies_all:
                    errors.append(f"Ingress {ing['metadata']['name']} routes {p['path']}")
                if p["path"] == "/v1/ws" and int(ann.get("nginx.ingress.kubernetes.io/proxy-read-timeout", "60")) < 3600:
                    errors.append(f"Ingress {ing['metadata']['name']}: /v1/ws without a 3600 s read timeout")
    for e in errors:
        print(f"check-rendered: {path}: {e}", file=sys.stderr)
    if not errors:
        print(f"check-rendered: {len(docs)} documents, {len(deployments)} Deployments: invariants hold")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
