package command

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/structpb"
)

const urn = "urn:pulumi:dev::proj::command:remote:Command::c"

type sshd struct {
	port                       int
	clientKey, hostKey, badKey string
}

func startSSHD(t *testing.T) sshd {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		t.Skip("no /usr/sbin/sshd (apt-get install openssh-server)")
	}
	if os.Geteuid() != 0 {
		t.Skip("sshd test needs root")
	}
	dir := t.TempDir()
	_ = os.Chmod(dir, 0o700)
	_ = os.MkdirAll("/run/sshd", 0o755)
	gen := func(name string) {
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, name)).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh-keygen: %v %s", err, out)
		}
	}
	gen("host")
	gen("client")
	gen("other")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PidFile %s
PermitRootLogin yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AcceptEnv *
`, port, filepath.Join(dir, "host"), filepath.Join(dir, "client.pub"), filepath.Join(dir, "sshd.pid"))
	if err := os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("sshd log:\n%s", logs.String())
		}
	})
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return sshd{port: port, clientKey: read("client"), hostKey: read("host.pub"), badKey: read("other.pub")}
}

func props(t *testing.T, m map[string]interface{}) *structpb.Struct {
	t.Helper()
	s, err := plugin.MarshalProperties(resource.NewPropertyMapFromMap(m), mopts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func unmarshal(t *testing.T, s *structpb.Struct) resource.PropertyMap {
	t.Helper()
	m, err := plugin.UnmarshalProperties(s, mopts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (s sshd) conn(hostKey string) map[string]interface{} {
	return map[string]interface{}{
		"host": "127.0.0.1", "port": s.port, "user": "root",
		"privateKey": s.clientKey, "hostKey": hostKey, "dialErrorLimit": 2, "perDialTimeout": 5,
	}
}

func TestRemoteCommand(t *testing.T) {
	s := startSSHD(t)
	p := NewProvider()
	p.retryDelay = 100 * time.Millisecond
	ctx := context.Background()

	create := func(ins map[string]interface{}) (*pulumirpc.CreateResponse, error) {
		return p.Create(ctx, &pulumirpc.CreateRequest{Urn: urn, Properties: props(t, ins)})
	}

	// stdout of echo hi, with environment.
	r, err := create(map[string]interface{}{"connection": s.conn(s.hostKey), "create": "echo hi; echo \"$FOO\" >&2",
		"environment": map[string]interface{}{"FOO": "bar"}})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	out := unmarshal(t, r.GetProperties())
	if got := out["stdout"].StringValue(); got != "hi" {
		t.Errorf("stdout = %q, want hi", got)
	}
	if got := out["stderr"].StringValue(); got != "bar" {
		t.Errorf("stderr = %q, want bar (environment)", got)
	}
	if r.GetId() == "" {
		t.Error("empty id")
	}

	// stdin reaches the command.
	r, err = create(map[string]interface{}{"connection": s.conn(""), "create": "cat", "stdin": "from stdin"})
	if err != nil {
		t.Fatalf("create cat: %v", err)
	}
	if got := unmarshal(t, r.GetProperties())["stdout"].StringValue(); got != "from stdin" {
		t.Errorf("cat stdout = %q", got)
	}

	// non-zero exit.
	_, err = create(map[string]interface{}{"connection": s.conn(s.hostKey), "create": "echo boom >&2; exit 3"})
	if err == nil || !strings.Contains(err.Error(), "status 3") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("exit 3: err = %v", err)
	}

	// wrong host key refused.
	_, err = create(map[string]interface{}{"connection": s.conn(s.badKey), "create": "echo hi"})
	if err == nil || !strings.Contains(err.Error(), "host key mismatch") {
		t.Errorf("wrong hostKey: err = %v", err)
	}

	// secrets: stdin secret -> stdout secret.
	insS := resource.NewPropertyMapFromMap(map[string]interface{}{"connection": s.conn(s.hostKey), "create": "cat"})
	insS["stdin"] = resource.MakeSecret(resource.NewStringProperty("s3cret"))
	ps, _ := plugin.MarshalProperties(insS, mopts)
	r, err = p.Create(ctx, &pulumirpc.CreateRequest{Urn: urn, Properties: ps})
	if err != nil {
		t.Fatalf("secret create: %v", err)
	}
	so := unmarshal(t, r.GetProperties())["stdout"]
	if !so.IsSecret() || so.SecretValue().Element.StringValue() != "s3cret" {
		t.Errorf("secret stdout = %v", so)
	}

	// Update runs update (else create) with previous output in env; Delete runs delete.
	olds := map[string]interface{}{"connection": s.conn(s.hostKey), "create": "echo one", "stdout": "one", "stderr": ""}
	news := map[string]interface{}{"connection": s.conn(s.hostKey), "create": "echo one",
		"update": "echo \"was $PULUMI_COMMAND_STDOUT\""}
	u, err := p.Update(ctx, &pulumirpc.UpdateRequest{Urn: urn, Olds: props(t, olds), News: props(t, news)})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if got := unmarshal(t, u.GetProperties())["stdout"].StringValue(); got != "was one" {
		t.Errorf("update stdout = %q", got)
	}
	marker := filepath.Join(t.TempDir(), "deleted")
	delOlds := map[string]interface{}{"connection": s.conn(s.hostKey), "create": "true", "delete": "touch " + marker}
	if _, err := p.Delete(ctx, &pulumirpc.DeleteRequest{Urn: urn, Id: "x", Properties: props(t, delOlds)}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("delete did not run: %v", err)
	}
}

func TestDiff(t *testing.T) {
	p := NewProvider()
	ctx := context.Background()
	base := func(create string, trig string) map[string]interface{} {
		return map[string]interface{}{"connection": map[string]interface{}{"host": "h", "port": 22, "user": "root"},
			"create": create, "triggers": []interface{}{trig}}
	}
	diff := func(o, n map[string]interface{}) *pulumirpc.DiffResponse {
		d, err := p.Diff(ctx, &pulumirpc.DiffRequest{Urn: urn, Olds: props(t, o), News: props(t, n)})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := diff(base("a", "1"), base("a", "2")); d.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(d.Replaces) != 1 || d.Replaces[0] != "triggers" {
		t.Errorf("trigger change: %v", d)
	}
	if d := diff(base("a", "1"), base("b", "1")); d.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(d.Replaces) != 0 {
		t.Errorf("create change: %v", d)
	}
	if d := diff(base("a", "1"), base("a", "1")); d.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("no change: %v", d)
	}
	// Unknowns in news must not fail.
	n := resource.NewPropertyMapFromMap(base("a", "1"))
	n["create"] = resource.MakeComputed(resource.NewStringProperty(""))
	ns, _ := plugin.MarshalProperties(n, mopts)
	d, err := p.Diff(ctx, &pulumirpc.DiffRequest{Urn: urn, Olds: props(t, base("a", "1")), News: ns})
	if err != nil || d.Changes != pulumirpc.DiffResponse_DIFF_SOME {
		t.Errorf("unknown: %v %v", d, err)
	}
	if _, err := p.Check(ctx, &pulumirpc.CheckRequest{Urn: urn, News: ns}); err != nil {
		t.Errorf("check with unknowns: %v", err)
	}
}

func TestLocalCommand(t *testing.T) {
	p := NewProvider()
	r, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: "urn:pulumi:dev::proj::command:local:Command::l",
		Properties: props(t, map[string]interface{}{"create": "tr a-z A-Z", "stdin": "abc"})})
	if err != nil {
		t.Fatal(err)
	}
	if got := unmarshal(t, r.GetProperties())["stdout"].StringValue(); got != "ABC" {
		t.Errorf("local stdout = %q", got)
	}
}
