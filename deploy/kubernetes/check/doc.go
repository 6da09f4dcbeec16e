// Package check validates the Kubernetes manifests in deploy/kubernetes
// without a cluster or a network: every document is decoded strictly (an
// unknown or duplicated field is an error) into the k8s.io/api type of its
// apiVersion and kind, and the manifests are checked against each other
// and against the gateway: probes on /healthz and /readyz, ports that
// exist, selectors that select the Deployment's pods, references to a
// ConfigMap, Secret or Deployment that the manifests define, environment
// variables that README.md documents.
//
// It is its own Go module, so that the gateway's go.mod does not carry
// the Kubernetes API packages; `make deploy-check` (part of `make test`)
// runs its test. The gateway.toml inside the ConfigMap is checked by the
// gateway's own strict config loader (engine's TestKubernetesConfigMap).
package check
