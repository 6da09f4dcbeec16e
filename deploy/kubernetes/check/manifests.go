package check

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Manifests are the decoded objects of a directory, by kind.
type Manifests struct {
	Deployments []*appsv1.Deployment
	Services    []*corev1.Service
	ConfigMaps  []*corev1.ConfigMap
	Secrets     []*corev1.Secret
	PDBs        []*policyv1.PodDisruptionBudget
	HPAs        []*autoscalingv2.HorizontalPodAutoscaler
	// Files names the file of every object, by "Kind/name".
	Files map[string]string

	lastKey string
}

// docSep splits a YAML stream into documents (a line of "---").
var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// Load decodes every *.yaml and *.yml file of dir strictly.
func Load(dir string) (*Manifests, error) {
	var paths []string
	for _, pat := range []string{"*.yaml", "*.yml"} {
		p, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return nil, err
		}
		paths = append(paths, p...)
	}
	sort.Strings(paths)
	if len(paths) == 0 {
		return nil, fmt.Errorf("no manifests in %s", dir)
	}
	m := &Manifests{Files: map[string]string{}}
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		for i, doc := range docSep.Split(string(b), -1) {
			if len(bytes.TrimSpace(stripComments([]byte(doc)))) == 0 {
				continue
			}
			if err := m.add([]byte(doc)); err != nil {
				return nil, fmt.Errorf("%s, document %d: %w", filepath.Base(path), i+1, err)
			}
			m.Files[m.last()] = filepath.Base(path)
		}
	}
	return m, nil
}

var commentLine = regexp.MustCompile(`(?m)^\s*#.*$`)

func stripComments(b []byte) []byte { return commentLine.ReplaceAll(b, nil) }

// lastKey is set by add: the "Kind/name" of the object it decoded.
func (m *Manifests) last() string { return m.lastKey }

// add decodes one document by its apiVersion and kind.
func (m *Manifests) add(doc []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	var obj interface {
		GetName() string
	}
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		o := &appsv1.Deployment{}
		m.Deployments, obj = append(m.Deployments, o), o
	case "v1 Service":
		o := &corev1.Service{}
		m.Services, obj = append(m.Services, o), o
	case "v1 ConfigMap":
		o := &corev1.ConfigMap{}
		m.ConfigMaps, obj = append(m.ConfigMaps, o), o
	case "v1 Secret":
		o := &corev1.Secret{}
		m.Secrets, obj = append(m.Secrets, o), o
	case "policy/v1 PodDisruptionBudget":
		o := &policyv1.PodDisruptionBudget{}
		m.PDBs, obj = append(m.PDBs, o), o
	case "autoscaling/v2 HorizontalPodAutoscaler":
		o := &autoscalingv2.HorizontalPodAutoscaler{}
		m.HPAs, obj = append(m.HPAs, o), o
	default:
		return fmt.Errorf("apiVersion %q kind %q: not a kind this check knows (add it)", tm.APIVersion, tm.Kind)
	}
	// Strict: an unknown field (a typo, a field of another version) or a
	// duplicated key is an error, as kubectl's server-side validation.
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return fmt.Errorf("%s: %w", tm.Kind, err)
	}
	if obj.GetName() == "" {
		return fmt.Errorf("%s without metadata.name", tm.Kind)
	}
	m.lastKey = tm.Kind + "/" + obj.GetName()
	return nil
}
