package command

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/ssh"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

const (
	remoteToken = "command:remote:Command"
	localToken  = "command:local:Command"
)

// Keys that are inputs (everything else in the state is an output such as stdout).
var inputKeys = []string{
	"connection", "create", "update", "delete", "stdin", "environment", "triggers",
	"logging", "addPreviousOutputInEnv", "dir", "interpreter", "assetPaths", "archivePaths",
}

var mopts = plugin.MarshalOptions{KeepSecrets: true, KeepUnknowns: true, SkipNulls: true}

// Provider implements pulumirpc.ResourceProviderServer for command:remote:Command and
// command:local:Command.
type Provider struct {
	pulumirpc.UnimplementedResourceProviderServer
	// retryDelay is the pause between SSH dial attempts.
	retryDelay time.Duration
}

func NewProvider() *Provider { return &Provider{retryDelay: time.Second} }

func (p *Provider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: Version}, nil
}

func (p *Provider) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: `{"name":"command","version":"` + Version + `"}`}, nil
}

func (p *Provider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *Provider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (p *Provider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: false}, nil
}

func (p *Provider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func checkType(urn string) error {
	t := string(resource.URN(urn).Type())
	if t != remoteToken && t != localToken {
		return fmt.Errorf("unknown resource type %q", t)
	}
	return nil
}

func isRemote(urn string) bool { return string(resource.URN(urn).Type()) == remoteToken }

func (p *Provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	news, err := plugin.UnmarshalProperties(req.GetNews(), mopts)
	if err != nil {
		return nil, err
	}
	if isRemote(req.GetUrn()) {
		if c, ok := news["connection"]; ok && !c.IsComputed() {
			secret := c.IsSecret()
			if secret {
				c = c.SecretValue().Element
			}
			if c.IsObject() {
				m := c.ObjectValue().Copy()
				if _, ok := m["port"]; !ok {
					m["port"] = resource.NewNumberProperty(22)
				}
				if _, ok := m["user"]; !ok {
					m["user"] = resource.NewStringProperty("root")
				}
				c = resource.NewObjectProperty(m)
				if secret {
					c = resource.MakeSecret(c)
				}
				news["connection"] = c
			}
		}
	}
	out, err := plugin.MarshalProperties(news, mopts)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: out}, nil
}

// plain strips secret markers recursively so values compare by content.
func plain(v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsSecret():
		return plain(v.SecretValue().Element)
	case v.IsArray():
		a := make([]resource.PropertyValue, len(v.ArrayValue()))
		for i, e := range v.ArrayValue() {
			a[i] = plain(e)
		}
		return resource.NewArrayProperty(a)
	case v.IsObject():
		m := resource.PropertyMap{}
		for k, e := range v.ObjectValue() {
			m[k] = plain(e)
		}
		return resource.NewObjectProperty(m)
	}
	return v
}

func valueDiffers(olds, news resource.PropertyMap, k string) bool {
	o, ook := olds[resource.PropertyKey(k)]
	n, nok := news[resource.PropertyKey(k)]
	if ook != nok {
		// A null and an absent value are the same.
		if (ook && o.IsNull()) || (nok && n.IsNull()) {
			return false
		}
		return true
	}
	if !ook {
		return false
	}
	if n.ContainsUnknowns() {
		return true
	}
	return !plain(o).DeepEquals(plain(n))
}

func (p *Provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	oldStruct := req.GetOldInputs()
	if oldStruct == nil || len(oldStruct.GetFields()) == 0 {
		oldStruct = req.GetOlds()
	}
	olds, err := plugin.UnmarshalProperties(oldStruct, mopts)
	if err != nil {
		return nil, err
	}
	news, err := plugin.UnmarshalProperties(req.GetNews(), mopts)
	if err != nil {
		return nil, err
	}
	var changed, replaces []string
	for _, k := range inputKeys {
		if valueDiffers(olds, news, k) {
			changed = append(changed, k)
			if k == "triggers" {
				replaces = append(replaces, k)
			}
		}
	}
	resp := &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE, DeleteBeforeReplace: false}
	if len(changed) > 0 {
		resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
		resp.Diffs = changed
		resp.Replaces = replaces
		resp.HasDetailedDiff = true
		resp.DetailedDiff = map[string]*pulumirpc.PropertyDiff{}
		for _, k := range changed {
			kind := pulumirpc.PropertyDiff_UPDATE
			if k == "triggers" {
				kind = pulumirpc.PropertyDiff_UPDATE_REPLACE
			}
			resp.DetailedDiff[k] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
		}
	}
	return resp, nil
}

func strProp(m resource.PropertyMap, k string) string {
	v, ok := m[resource.PropertyKey(k)]
	if !ok {
		return ""
	}
	v = plain(v)
	if v.IsString() {
		return v.StringValue()
	}
	return ""
}

func numProp(m resource.PropertyMap, k string, def int) int {
	v, ok := m[resource.PropertyKey(k)]
	if !ok {
		return def
	}
	v = plain(v)
	switch {
	case v.IsNumber():
		return int(v.NumberValue())
	case v.IsString():
		if n, err := strconv.Atoi(v.StringValue()); err == nil {
			return n
		}
	}
	return def
}

func boolProp(m resource.PropertyMap, k string, def bool) bool {
	v, ok := m[resource.PropertyKey(k)]
	if !ok {
		return def
	}
	v = plain(v)
	if v.IsBool() {
		return v.BoolValue()
	}
	return def
}

func envProp(m resource.PropertyMap) map[string]string {
	env := map[string]string{}
	v, ok := m["environment"]
	if !ok {
		return env
	}
	v = plain(v)
	if v.IsObject() {
		for k, e := range v.ObjectValue() {
			if e.IsString() {
				env[string(k)] = e.StringValue()
			}
		}
	}
	return env
}

type connection struct {
	host, user, privateKey, privateKeyPassword, password, hostKey string
	port, dialErrorLimit, perDialTimeout                          int
}

func connProp(m resource.PropertyMap) (connection, error) {
	v, ok := m["connection"]
	if !ok {
		return connection{}, errors.New("missing connection")
	}
	v = plain(v)
	if !v.IsObject() {
		return connection{}, errors.New("connection must be an object")
	}
	c := v.ObjectValue()
	conn := connection{
		host:               strProp(c, "host"),
		user:               strProp(c, "user"),
		privateKey:         strProp(c, "privateKey"),
		privateKeyPassword: strProp(c, "privateKeyPassword"),
		password:           strProp(c, "password"),
		hostKey:            strProp(c, "hostKey"),
		port:               numProp(c, "port", 22),
		dialErrorLimit:     numProp(c, "dialErrorLimit", 10),
		perDialTimeout:     numProp(c, "perDialTimeout", 15),
	}
	if conn.user == "" {
		conn.user = "root"
	}
	if conn.host == "" {
		return conn, errors.New("connection.host is required")
	}
	if conn.dialErrorLimit == 0 {
		conn.dialErrorLimit = 10
	}
	return conn, nil
}

var errHostKey = errors.New("host key mismatch")

func (p *Provider) dial(conn connection) (*ssh.Client, error) {
	var auth []ssh.AuthMethod
	if conn.privateKey != "" {
		var signer ssh.Signer
		var err error
		if conn.privateKeyPassword != "" {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(conn.privateKey), []byte(conn.privateKeyPassword))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(conn.privateKey))
		}
		if err != nil {
			return nil, fmt.Errorf("parsing privateKey: %w", err)
		}
		auth = append(auth, ssh.PublicKeys(signer))
	}
	if conn.password != "" {
		auth = append(auth, ssh.Password(conn.password),
			ssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
				a := make([]string, len(qs))
				for i := range a {
					a[i] = conn.password
				}
				return a, nil
			}))
	}
	hostKeyCB := ssh.InsecureIgnoreHostKey()
	if conn.hostKey != "" {
		want, _, _, _, err := ssh.ParseAuthorizedKey([]byte(conn.hostKey))
		if err != nil {
			return nil, fmt.Errorf("parsing connection.hostKey: %w", err)
		}
		hostKeyCB = func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if !bytes.Equal(key.Marshal(), want.Marshal()) {
				return fmt.Errorf("%w: server presented %s %s, expected %s",
					errHostKey, key.Type(), ssh.FingerprintSHA256(key), ssh.FingerprintSHA256(want))
			}
			return nil
		}
	}
	cfg := &ssh.ClientConfig{
		User:            conn.user,
		Auth:            auth,
		HostKeyCallback: hostKeyCB,
		Timeout:         time.Duration(conn.perDialTimeout) * time.Second,
	}
	addr := net.JoinHostPort(conn.host, strconv.Itoa(conn.port))
	var lastErr error
	for attempt := 1; attempt <= conn.dialErrorLimit || conn.dialErrorLimit < 0; attempt++ {
		client, err := ssh.Dial("tcp", addr, cfg)
		if err == nil {
			return client, nil
		}
		lastErr = err
		if errors.Is(err, errHostKey) || strings.Contains(err.Error(), errHostKey.Error()) ||
			strings.Contains(err.Error(), "unable to authenticate") {
			break
		}
		time.Sleep(p.retryDelay)
	}
	return nil, fmt.Errorf("dialing %s: %w", addr, lastErr)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func runRemote(p *Provider, conn connection, cmd, stdin string, env map[string]string) (string, string, error) {
	client, err := p.dial(conn)
	if err != nil {
		return "", "", err
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return "", "", fmt.Errorf("opening SSH session: %w", err)
	}
	defer sess.Close()
	for _, k := range sortedKeys(env) {
		_ = sess.Setenv(k, env[k]) // servers may refuse; the real provider ignores that too
	}
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	if stdin != "" {
		sess.Stdin = strings.NewReader(stdin)
	}
	err = sess.Run(cmd)
	so, se := trimNL(stdout.String()), trimNL(stderr.String())
	if err != nil {
		var ee *ssh.ExitError
		if errors.As(err, &ee) {
			return so, se, fmt.Errorf("Process exited with status %d: running %q:\nstdout: %s\nstderr: %s",
				ee.ExitStatus(), cmd, tail(so, 2000), tail(se, 4000))
		}
		return so, se, fmt.Errorf("running %q: %w\nstderr: %s", cmd, err, tail(se, 4000))
	}
	return so, se, nil
}

func runLocal(cmd, stdin, dir string, env map[string]string) (string, string, error) {
	c := exec.Command("/bin/sh", "-c", cmd)
	c.Env = os.Environ()
	for _, k := range sortedKeys(env) {
		c.Env = append(c.Env, k+"="+env[k])
	}
	c.Dir = dir
	if stdin != "" {
		c.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	so, se := trimNL(stdout.String()), trimNL(stderr.String())
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return so, se, fmt.Errorf("exit status %d: running %q:\nstdout: %s\nstderr: %s",
				ee.ExitCode(), cmd, tail(so, 2000), tail(se, 4000))
		}
		return so, se, fmt.Errorf("running %q: %w", cmd, err)
	}
	return so, se, nil
}

func trimNL(s string) string { return strings.TrimSuffix(s, "\n") }

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// run executes cmd for the resource whose inputs are ins; olds (may be nil) are the
// previous outputs, exposed as PULUMI_COMMAND_STDOUT/STDERR when addPreviousOutputInEnv.
func (p *Provider) run(urn, cmd string, ins, olds resource.PropertyMap) (string, string, error) {
	env := envProp(ins)
	if olds != nil && boolProp(ins, "addPreviousOutputInEnv", true) {
		env["PULUMI_COMMAND_STDOUT"] = strProp(olds, "stdout")
		env["PULUMI_COMMAND_STDERR"] = strProp(olds, "stderr")
	}
	stdin := strProp(ins, "stdin")
	if isRemote(urn) {
		conn, err := connProp(ins)
		if err != nil {
			return "", "", err
		}
		return runRemote(p, conn, cmd, stdin, env)
	}
	return runLocal(cmd, stdin, strProp(ins, "dir"), env)
}

// outputs is the inputs plus stdout/stderr, secret if any input was.
func outputs(ins resource.PropertyMap, stdout, stderr string) resource.PropertyMap {
	out := resource.PropertyMap{}
	secret := false
	for k, v := range ins {
		if k == "stdout" || k == "stderr" {
			continue
		}
		out[k] = v
		if v.ContainsSecrets() {
			secret = true
		}
	}
	so, se := resource.NewStringProperty(stdout), resource.NewStringProperty(stderr)
	if secret {
		so, se = resource.MakeSecret(so), resource.MakeSecret(se)
	}
	out["stdout"], out["stderr"] = so, se
	return out
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (p *Provider) Create(_ context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	ins, err := plugin.UnmarshalProperties(req.GetProperties(), mopts)
	if err != nil {
		return nil, err
	}
	var stdout, stderr string
	if cmd := strProp(ins, "create"); cmd != "" && !req.GetPreview() {
		stdout, stderr, err = p.run(req.GetUrn(), cmd, ins, nil)
		if err != nil {
			return nil, err
		}
	}
	props, err := plugin.MarshalProperties(outputs(ins, stdout, stderr), mopts)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: newID(), Properties: props}, nil
}

func (p *Provider) Update(_ context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	olds, err := plugin.UnmarshalProperties(req.GetOlds(), mopts)
	if err != nil {
		return nil, err
	}
	ins, err := plugin.UnmarshalProperties(req.GetNews(), mopts)
	if err != nil {
		return nil, err
	}
	cmd := strProp(ins, "update")
	if cmd == "" {
		cmd = strProp(ins, "create")
	}
	stdout, stderr := strProp(olds, "stdout"), strProp(olds, "stderr")
	if cmd != "" && !req.GetPreview() {
		stdout, stderr, err = p.run(req.GetUrn(), cmd, ins, olds)
		if err != nil {
			return nil, err
		}
	}
	props, err := plugin.MarshalProperties(outputs(ins, stdout, stderr), mopts)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

func (p *Provider) Delete(_ context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	olds, err := plugin.UnmarshalProperties(req.GetProperties(), mopts)
	if err != nil {
		return nil, err
	}
	if cmd := strProp(olds, "delete"); cmd != "" {
		if _, _, err := p.run(req.GetUrn(), cmd, olds, olds); err != nil {
			return nil, err
		}
	}
	return &emptypb.Empty{}, nil
}

func (p *Provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	inputs := req.GetInputs()
	if inputs == nil {
		inputs = &structpb.Struct{}
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: inputs}, nil
}

var _ = tokens.Type("")
