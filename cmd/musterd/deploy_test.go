package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/musterhq/muster/internal/testserver"
	"github.com/musterhq/muster/server"
	"go.yaml.in/yaml/v3"
)

// The deployment files are checked against the code they deploy: the
// manifests parse and reference what exists (files, flags, ports, probes,
// claims, secrets), and every metric the alerts and the Grafana dashboard
// use is one musterd exports.

const deployDir = "../../deploy"

type container struct {
	Name  string   `yaml:"name"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string         `yaml:"name"`
		Value     string         `yaml:"value"`
		ValueFrom map[string]any `yaml:"valueFrom"`
	} `yaml:"env"`
	LivenessProbe, ReadinessProbe struct {
		HTTPGet struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
	}
	Resources struct {
		Requests map[string]string `yaml:"requests"`
	} `yaml:"resources"`
	SecurityContext struct {
		ReadOnlyRootFilesystem bool `yaml:"readOnlyRootFilesystem"`
	} `yaml:"securityContext"`
}

type manifest struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Ports []struct {
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
		Template struct {
			Spec struct {
				SecurityContext struct {
					RunAsNonRoot bool `yaml:"runAsNonRoot"`
				} `yaml:"securityContext"`
				Containers []container `yaml:"containers"`
				Volumes    []struct {
					PersistentVolumeClaim struct {
						ClaimName string `yaml:"claimName"`
					} `yaml:"persistentVolumeClaim"`
					Secret struct {
						SecretName string `yaml:"secretName"`
					} `yaml:"secret"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(deployDir, "kubernetes")
	var kustomization struct {
		Resources []string `yaml:"resources"`
	}
	readYAML(t, filepath.Join(dir, "kustomization.yaml"), &kustomization)
	byKind := map[string]manifest{}
	for _, file := range kustomization.Resources {
		var m manifest
		readYAML(t, filepath.Join(dir, file), &m)
		if m.APIVersion == "" || m.Kind == "" || m.Metadata.Name == "" {
			t.Errorf("%s: no apiVersion, kind or name", file)
		}
		byKind[m.Kind+"/"+m.Metadata.Name] = m
	}
	musterd, ok := byKind["Deployment/musterd"]
	if !ok {
		t.Fatalf("no musterd Deployment among %v", kustomization.Resources)
	}
	spec := musterd.Spec.Template.Spec
	c := spec.Containers[0]
	if !spec.SecurityContext.RunAsNonRoot || !c.SecurityContext.ReadOnlyRootFilesystem || c.Resources.Requests["cpu"] == "" {
		t.Error("musterd must run as non-root on a read-only root filesystem, with resource requests")
	}

	// The args are real flags: parse them, with the token files stood in for.
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("t"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		if name, _, ok := strings.Cut(a, "="); ok && strings.HasSuffix(name, "-file") {
			a = name + "=" + tokenFile
		}
		args[i] = a
	}
	cfg, err := parseConfig(args, func(string) string { return "" })
	if err != nil {
		t.Fatalf("musterd args %v: %v", c.Args, err)
	}

	// Ports, Service and probes agree with each other and with the flags.
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ":"+strconv.Itoa(ports["http"]) != cfg.HTTPAddr || ":"+strconv.Itoa(ports["grpc"]) != cfg.GRPCAddr {
		t.Errorf("container ports %v disagree with --http-addr %s / --grpc-addr %s", ports, cfg.HTTPAddr, cfg.GRPCAddr)
	}
	for _, p := range byKind["Service/musterd"].Spec.Ports {
		if _, ok := ports[p.TargetPort]; !ok {
			t.Errorf("Service targets port %q, which the container does not name", p.TargetPort)
		}
	}
	s := testserver.Start(t, server.Config{})
	for _, probe := range []string{c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path} {
		resp, err := http.Get(s.HTTPURL + probe)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("probe %q does not answer 200 (%v)", probe, err)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}

	// The claim and the secret it mounts are the ones deployed and documented.
	var claim, secret string
	for _, v := range spec.Volumes {
		claim += v.PersistentVolumeClaim.ClaimName
		secret += v.Secret.SecretName
	}
	if _, ok := byKind["PersistentVolumeClaim/"+claim]; !ok {
		t.Errorf("musterd mounts claim %q, which is not deployed", claim)
	}
	if secret != "muster-tokens" {
		t.Errorf("musterd mounts secret %q, want muster-tokens (the kustomization documents it)", secret)
	}

	// The example worker is named after its pod and points at the Service.
	worker := byKind["Deployment/extraction-worker"].Spec.Template.Spec.Containers[0]
	env := map[string]string{}
	for _, e := range worker.Env {
		env[e.Name] = e.Value
		if e.ValueFrom != nil {
			v, _ := json.Marshal(e.ValueFrom)
			env[e.Name] = string(v)
		}
	}
	if !strings.Contains(env["WORKER_ID"], "metadata.name") || env["MONITORING_URL"] != "http://musterd:8000" || !strings.Contains(env["MONITORING_TOKEN"], "muster-tokens") {
		t.Errorf("worker env = %v", env)
	}
}

var metricName = regexp.MustCompile(`\bmuster_[a-z_]+`)

func TestAlertsAndDashboardUseRealMetrics(t *testing.T) {
	t.Parallel()
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, filepath.Join(deployDir, "prometheus", "alerts.yaml"), &rules)
	var exprs []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("rule without a name or expression: %+v", r)
			}
			exprs = append(exprs, r.Expr)
		}
	}
	data, err := os.ReadFile(filepath.Join(deployDir, "grafana", "muster-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("grafana dashboard: %v", err)
	}
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			exprs = append(exprs, target.Expr)
		}
	}
	if len(exprs) < 10 {
		t.Fatalf("found only %d expressions", len(exprs))
	}

	// A server with a little of everything, so every family has a series.
	s := testserver.Start(t, server.Config{})
	for path, body := range map[string]string{
		"/api/monitoring/worker/w1/extraction_status": `{"status":"running","parishes_processed":1,"total_parishes":2}`,
		"/api/monitoring/worker/w1/circuit_breakers":  `{"b":{"state":"OPEN","total_requests":1}}`,
	} {
		s.PostOK(t, path, body)
	}
	resp, err := http.Get(s.HTTPURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	exported, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, e := range exprs {
		for _, name := range metricName.FindAllString(e, -1) {
			family := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
			if !regexp.MustCompile(`(?m)^# TYPE ` + family + ` `).Match(exported) {
				t.Errorf("%q uses %s, which /metrics does not export", e, name)
			}
		}
	}
}
