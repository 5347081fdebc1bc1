#!/usr/bin/env bash
# Fetches the real CRD files of the automation the operator pauses (Argo CD, Flux, a
# Crossplane provider), plus the ServiceMonitor and PrometheusRule CRDs the Helm chart can
# render, from the projects' published Go modules; caches them and prints the cache
# directory. tofu-controller is absent: the module proxy here does not serve it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
cache=${BREAKGLASS_CACHE:-$HOME/.cache/breakglass}
key="argocd-$ARGOCD_VERSION-kustomize-$FLUX_KUSTOMIZE_CONTROLLER_VERSION-helm-$FLUX_HELM_CONTROLLER_VERSION-xp-kubernetes-m-$CROSSPLANE_PROVIDER_KUBERNETES_VERSION-promop-$PROMETHEUS_OPERATOR_VERSION-rules"
out=$cache/automation-crds/$key
if [ -f "$out/.complete" ]; then
  echo "$out"
  exit 0
fi
export GOTOOLCHAIN=local GOFLAGS=-mod=mod
module_dir() { # <module@version>: the directory `go mod download` extracted it to
  local json dir
  json=$(go mod download -json "$1" 2>/dev/null || true)
  dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$json")
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    printf '[automation-crds] could not download %s:\n%s\n' "$1" "$json" >&2
    exit 1
  fi
  echo "$dir"
}
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
argo=$(module_dir "github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION")
cp "$argo/manifests/crds/application-crd.yaml" "$argo/manifests/crds/appproject-crd.yaml" "$out.tmp/"
kustomize=$(module_dir "github.com/fluxcd/kustomize-controller@$FLUX_KUSTOMIZE_CONTROLLER_VERSION")
cp "$kustomize/config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml" "$out.tmp/"
helm=$(module_dir "github.com/fluxcd/helm-controller@$FLUX_HELM_CONTROLLER_VERSION")
cp "$helm/config/crd/bases/helm.toolkit.fluxcd.io_helmreleases.yaml" "$out.tmp/"
xp=$(module_dir "github.com/crossplane-contrib/provider-kubernetes@$CROSSPLANE_PROVIDER_KUBERNETES_VERSION")
# The namespaced (Crossplane v2) kind: the cluster-scoped one needs a conversion webhook.
cp "$xp/package/crds/kubernetes.m.crossplane.io_objects.yaml" "$out.tmp/"
promop=$(module_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")
for crd in servicemonitors prometheusrules; do
  cp "$promop/example/prometheus-operator-crd/monitoring.coreos.com_$crd.yaml" "$out.tmp/"
done
chmod 644 "$out.tmp"/*.yaml
touch "$out.tmp/.complete"
rm -rf "$out" && mv "$out.tmp" "$out"
echo "$out"
