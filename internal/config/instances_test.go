//go:build linux

package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestInstances(t *testing.T) {
	dir := t.TempDir()
	src := `
[[child]]
name = "backend"
command = ["/opt/backend"]
instances = 2

[[child]]
name = "fe"
command = ["/opt/fe", "--port=80{instance}", "--id={name}"]
env = { SLOT = "{instance}", WHO = "{name}" }
instances = 3
depends_on = ["backend"]
ready = { tcp = "127.0.0.1:80{instance}" }
stdout = { file = "logs/{name}.out" }

[[child]]
name = "single"
command = ["/opt/single", "{name}"]
depends_on = ["fe"]
`
	cfg, err := Parse(filepath.Join(dir, "r.toml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cfg.Children {
		names = append(names, c.Name)
	}
	if want := []string{"backend.0", "backend.1", "fe.0", "fe.1", "fe.2", "single"}; !slices.Equal(names, want) {
		t.Fatalf("children %v, want %v", names, want)
	}
	fe2 := cfg.Child("fe.2")
	if want := []string{"/opt/fe", "--port=802", "--id=fe.2"}; !slices.Equal(fe2.Command, want) {
		t.Errorf("fe.2 command %q, want %q", fe2.Command, want)
	}
	if fe2.Env["SLOT"] != "2" || fe2.Env["WHO"] != "fe.2" {
		t.Errorf("fe.2 env %v", fe2.Env)
	}
	if fe2.Ready.TCP != "127.0.0.1:802" || fe2.Stdout.File != filepath.Join(dir, "logs/fe.2.out") {
		t.Errorf("fe.2 ready %q stdout %q", fe2.Ready.TCP, fe2.Stdout.File)
	}
	if fe2.Base != "fe" || fe2.Instances != 3 || fe2.Instance != 2 {
		t.Errorf("fe.2 base %q instances %d instance %d", fe2.Base, fe2.Instances, fe2.Instance)
	}
	if fe0 := cfg.Child("fe.0"); fe0.Env["SLOT"] != "0" || fe0.Command[1] != "--port=800" {
		t.Errorf("fe.0 shares its copy's values: %v %v", fe0.Env, fe0.Command)
	}
	if want := []string{"backend.0", "backend.1"}; !slices.Equal(fe2.DependsOn, want) {
		t.Errorf("fe.2 depends on %v, want %v", fe2.DependsOn, want)
	}
	single := cfg.Child("single")
	if single.Command[1] != "single" || single.Base != "single" || single.Instances != 0 {
		t.Errorf("single: %q base %q instances %d", single.Command, single.Base, single.Instances)
	}
	if want := []string{"fe.0", "fe.1", "fe.2"}; !slices.Equal(single.DependsOn, want) {
		t.Errorf("single depends on %v, want %v", single.DependsOn, want)
	}
}

func TestInstancesProblems(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"[[child]]\nname = \"a\"\ncommand = [\"/x\", \"--port={instance}\"]\n", "r.toml:3: child[a].command: {instance} is used, but instances is not set"},
		{"[[child]]\nname = \"a\"\ncommand = [\"/x\"]\ninstances = 0\n", "r.toml:4: child[a].instances: 0 is out of range"},
		{"[[child]]\nname = \"a\"\ncommand = [\"/x\"]\ninstances = 2\n[[child]]\nname = \"a.1\"\ncommand = [\"/x\"]\n", `duplicate name "a.1"`},
		{"[defaults]\ninstances = 2\n[[child]]\nname = \"a\"\ncommand = [\"/x\"]\n", "r.toml:2: defaults.instances: instances cannot be a default"},
	} {
		_, err := Parse("r.toml", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.src, err, tc.want)
		}
	}
}
