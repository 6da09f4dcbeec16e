package check

import (
	"fmt"
	"net"
	"path"
	"regexp"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Probe paths the gateway serves (SPEC.md, README.md): readiness turns 503
// while draining, liveness only says the process answers.
const (
	ReadinessPath = "/readyz"
	LivenessPath  = "/healthz"
)

// Check is every cross-manifest and gateway check; env reports whether an
// environment variable name is documented. It returns every problem found.
func (m *Manifests) Check(env func(name string) bool) []error {
	var errs []error
	bad := func(obj, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s (%s): %s", obj, m.Files[obj], fmt.Sprintf(format, args...)))
	}
	if len(m.Deployments) == 0 {
		errs = append(errs, fmt.Errorf("no Deployment"))
	}
	for _, d := range m.Deployments {
		m.checkDeployment(d, env, bad)
	}
	// Pods of some Deployment, for the selectors of the others.
	selects := func(obj string, sel *metav1.LabelSelector) *appsv1.Deployment {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			bad(obj, "selector: %v", err)
			return nil
		}
		if s.Empty() {
			bad(obj, "empty selector: selects every pod of the namespace")
			return nil
		}
		for _, d := range m.Deployments {
			if s.Matches(labels.Set(d.Spec.Template.Labels)) {
				return d
			}
		}
		bad(obj, "selector %s selects no Deployment's pods", s)
		return nil
	}
	for _, s := range m.Services {
		obj := "Service/" + s.Name
		d := selects(obj, &metav1.LabelSelector{MatchLabels: s.Spec.Selector})
		if d == nil {
			continue
		}
		for _, p := range s.Spec.Ports {
			if _, ok := containerPort(d, p.TargetPort); !ok {
				bad(obj, "port %q: targetPort %s is no container port of Deployment/%s", p.Name, p.TargetPort.String(), d.Name)
			}
		}
	}
	for _, p := range m.PDBs {
		obj := "PodDisruptionBudget/" + p.Name
		d := selects(obj, p.Spec.Selector)
		if d == nil || p.Spec.MinAvailable == nil || d.Spec.Replicas == nil {
			continue
		}
		if n, err := intstr.GetScaledValueFromIntOrPercent(p.Spec.MinAvailable, int(*d.Spec.Replicas), true); err != nil {
			bad(obj, "minAvailable: %v", err)
		} else if n >= int(*d.Spec.Replicas) {
			bad(obj, "minAvailable %s of %d replicas: no pod may ever be evicted (a node drain blocks)", p.Spec.MinAvailable.String(), *d.Spec.Replicas)
		}
	}
	for _, h := range m.HPAs {
		obj := "HorizontalPodAutoscaler/" + h.Name
		ref := h.Spec.ScaleTargetRef
		if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || m.deployment(ref.Name) == nil {
			bad(obj, "scaleTargetRef %s %s/%s: no such Deployment in the manifests", ref.APIVersion, ref.Kind, ref.Name)
		}
		if h.Spec.MinReplicas != nil && *h.Spec.MinReplicas > h.Spec.MaxReplicas {
			bad(obj, "minReplicas %d > maxReplicas %d", *h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
		if len(h.Spec.Metrics) == 0 {
			bad(obj, "no metrics: it would scale on CPU by default")
		}
	}
	for _, s := range m.Secrets {
		for k := range s.StringData {
			if !env(k) {
				bad("Secret/"+s.Name, "key %s is no environment variable README.md documents", k)
			}
		}
		for k := range s.Data {
			if !env(k) {
				bad("Secret/"+s.Name, "key %s is no environment variable README.md documents", k)
			}
		}
	}
	return errs
}

func (m *Manifests) deployment(name string) *appsv1.Deployment {
	for _, d := range m.Deployments {
		if d.Name == name {
			return d
		}
	}
	return nil
}

func (m *Manifests) configMap(name string) *corev1.ConfigMap {
	for _, c := range m.ConfigMaps {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (m *Manifests) secret(name string) *corev1.Secret {
	for _, s := range m.Secrets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// containerPort resolves a port by name or number among d's containers.
func containerPort(d *appsv1.Deployment, p intstr.IntOrString) (int32, bool) {
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, cp := range c.Ports {
			if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

var envName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

func (m *Manifests) checkDeployment(d *appsv1.Deployment, env func(string) bool, bad func(string, string, ...any)) {
	obj := "Deployment/" + d.Name
	if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err != nil || s.Empty() || !s.Matches(labels.Set(d.Spec.Template.Labels)) {
		bad(obj, "spec.selector does not select the pod template's labels %v", d.Spec.Template.Labels)
	}
	pod := d.Spec.Template.Spec
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
		if v.ConfigMap != nil && m.configMap(v.ConfigMap.Name) == nil {
			bad(obj, "volume %s: no ConfigMap %s in the manifests", v.Name, v.ConfigMap.Name)
		}
		if v.Secret != nil && m.secret(v.Secret.SecretName) == nil {
			bad(obj, "volume %s: no Secret %s in the manifests", v.Name, v.Secret.SecretName)
		}
	}
	if len(pod.Containers) == 0 {
		bad(obj, "no containers")
	}
	for _, c := range pod.Containers {
		cobj := fmt.Sprintf("container %s", c.Name)
		probe := func(kind string, p *corev1.Probe, want string) {
			switch {
			case p == nil:
				bad(obj, "%s: no %s", cobj, kind)
			case p.HTTPGet == nil:
				bad(obj, "%s: %s is not an httpGet on %s", cobj, kind, want)
			case p.HTTPGet.Path != want:
				bad(obj, "%s: %s on %q, the gateway serves it on %s", cobj, kind, p.HTTPGet.Path, want)
			default:
				if _, ok := containerPort(d, p.HTTPGet.Port); !ok {
					bad(obj, "%s: %s port %s is no container port", cobj, kind, p.HTTPGet.Port.String())
				}
			}
		}
		probe("readinessProbe", c.ReadinessProbe, ReadinessPath)
		probe("livenessProbe", c.LivenessProbe, LivenessPath)
		for i := 0; i+1 < len(c.Args); i++ {
			switch c.Args[i] {
			case "-listen", "--listen":
				_, port, err := net.SplitHostPort(c.Args[i+1])
				n, err2 := strconv.Atoi(port)
				if err != nil || err2 != nil {
					bad(obj, "%s: -listen %q is not host:port", cobj, c.Args[i+1])
				} else if _, ok := containerPort(d, intstr.FromInt32(int32(n))); !ok {
					bad(obj, "%s: listens on %d, which no containerPort declares", cobj, n)
				}
			case "-config", "--config":
				m.checkConfigPath(d, c, volumes, c.Args[i+1], bad)
			}
		}
		for _, e := range c.Env {
			if !envName.MatchString(e.Name) || !env(e.Name) {
				bad(obj, "%s: env %s is no environment variable README.md documents", cobj, e.Name)
			}
		}
		for _, ef := range c.EnvFrom {
			if ef.SecretRef != nil && m.secret(ef.SecretRef.Name) == nil {
				bad(obj, "%s: envFrom Secret %s is not in the manifests", cobj, ef.SecretRef.Name)
			}
			if ef.ConfigMapRef != nil {
				cm := m.configMap(ef.ConfigMapRef.Name)
				if cm == nil {
					bad(obj, "%s: envFrom ConfigMap %s is not in the manifests", cobj, ef.ConfigMapRef.Name)
					continue
				}
				for k := range cm.Data {
					if !env(k) {
						bad(obj, "%s: envFrom ConfigMap %s key %s is no documented environment variable", cobj, cm.Name, k)
					}
				}
			}
		}
	}
}

// checkConfigPath: the -config file is a key of a ConfigMap mounted at its
// directory.
func (m *Manifests) checkConfigPath(d *appsv1.Deployment, c corev1.Container, volumes map[string]corev1.Volume, file string, bad func(string, string, ...any)) {
	obj := "Deployment/" + d.Name
	for _, vm := range c.VolumeMounts {
		if vm.MountPath != path.Dir(file) {
			continue
		}
		v, ok := volumes[vm.Name]
		if !ok {
			bad(obj, "container %s: volumeMount %s names no volume", c.Name, vm.Name)
			return
		}
		if v.ConfigMap == nil {
			bad(obj, "container %s: -config %s is on volume %s, not a ConfigMap", c.Name, file, vm.Name)
			return
		}
		if cm := m.configMap(v.ConfigMap.Name); cm != nil {
			if _, ok := cm.Data[path.Base(file)]; !ok {
				bad(obj, "container %s: -config %s: ConfigMap %s has no key %s", c.Name, file, cm.Name, path.Base(file))
			}
		}
		return
	}
	bad(obj, "container %s: -config %s is on no volumeMount", c.Name, file)
}
