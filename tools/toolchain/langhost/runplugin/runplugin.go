// Package runplugin gives the Node.js language host built here (sdk v3.68.0, the newest
// release the Go proxy serves that still carries it) the RunPlugin it lacks: v3.68.0
// answers "not supported", and current engines start every Node.js policy pack
// (`pulumi preview --policy-pack DIR`) and Node.js plugin through RunPlugin. What it does
// is what current language hosts do: a policy pack (kind "analyzer") runs through
// @pulumi/pulumi/cmd/run-policy-pack, anything else through cmd/run-plugin, each resolved
// from the plugin's own directory (its own node_modules), with the engine's arguments and
// environment, its output streamed back and its exit code reported.
//
// tools/pulumi-toolchain.sh copies the upstream main package next to this one and makes
// its RunPlugin call Run.
package runplugin

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/encoding/protowire"
)

// Fields of RunPluginRequest that v3.68.0's generated code does not know (they arrive as
// unknown fields): info (a ProgramInfo message) and kind. In ProgramInfo,
// program_directory is field 2.
const (
	requestInfoField      = 5
	requestKindField      = 6
	infoProgramDirField   = 2
	runPolicyPackModule   = "@pulumi/pulumi/cmd/run-policy-pack"
	runPluginModule       = "@pulumi/pulumi/cmd/run-plugin"
	analyzerKind          = "analyzer"
	outputChunkSize       = 32 * 1024
	defaultPluginExitCode = -1
)

// Request is what Run needs from a RunPluginRequest, old and new fields alike.
type Request struct {
	Pwd        string
	ProgramDir string
	Kind       string
	Args       []string
	Env        []string
}

// Decode reads a RunPluginRequest, including the fields this SDK's protobuf code predates.
func Decode(req *pulumirpc.RunPluginRequest) (Request, error) {
	out := Request{Pwd: req.GetPwd(), Args: req.GetArgs(), Env: req.GetEnv(), ProgramDir: req.GetProgram()}
	unknown := req.ProtoReflect().GetUnknown()
	for len(unknown) > 0 {
		num, typ, n := protowire.ConsumeTag(unknown)
		if n < 0 {
			return out, fmt.Errorf("RunPluginRequest: %w", protowire.ParseError(n))
		}
		unknown = unknown[n:]
		if typ == protowire.BytesType && (num == requestInfoField || num == requestKindField) {
			value, m := protowire.ConsumeBytes(unknown)
			if m < 0 {
				return out, fmt.Errorf("RunPluginRequest field %d: %w", num, protowire.ParseError(m))
			}
			unknown = unknown[m:]
			if num == requestKindField {
				out.Kind = string(value)
				continue
			}
			dir, err := programDirectory(value)
			if err != nil {
				return out, err
			}
			if dir != "" {
				out.ProgramDir = dir
			}
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, unknown)
		if m < 0 {
			return out, fmt.Errorf("RunPluginRequest field %d: %w", num, protowire.ParseError(m))
		}
		unknown = unknown[m:]
	}
	if out.ProgramDir == "" {
		return out, errors.New("RunPluginRequest names no plugin directory (neither info.program_directory nor program)")
	}
	return out, nil
}

// programDirectory reads program_directory out of an encoded ProgramInfo.
func programDirectory(info []byte) (string, error) {
	for len(info) > 0 {
		num, typ, n := protowire.ConsumeTag(info)
		if n < 0 {
			return "", fmt.Errorf("ProgramInfo: %w", protowire.ParseError(n))
		}
		info = info[n:]
		if num == infoProgramDirField && typ == protowire.BytesType {
			value, m := protowire.ConsumeBytes(info)
			if m < 0 {
				return "", fmt.Errorf("ProgramInfo.program_directory: %w", protowire.ParseError(m))
			}
			return string(value), nil
		}
		m := protowire.ConsumeFieldValue(num, typ, info)
		if m < 0 {
			return "", fmt.Errorf("ProgramInfo field %d: %w", num, protowire.ParseError(m))
		}
		info = info[m:]
	}
	return "", nil
}

// Run starts the plugin and streams its output to the engine until it exits.
func Run(req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer) error {
	r, err := Decode(req)
	if err != nil {
		return err
	}
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		return fmt.Errorf("could not find node on the $PATH: %w", err)
	}
	module := runPluginModule
	if r.Kind == analyzerKind {
		module = runPolicyPackModule
	}
	runPath, err := resolveModule(nodeBin, r.ProgramDir, module)
	if err != nil {
		return fmt.Errorf("%s cannot be found from %s (are its dependencies installed? npm ci there): %w", module, r.ProgramDir, err)
	}
	// run-policy-pack and run-plugin take <engine address> <program>: the engine's
	// arguments end with its address, and the program is the plugin's directory.
	args := append([]string{runPath}, r.Args...)
	args = append(args, r.ProgramDir)
	cmd := exec.CommandContext(server.Context(), nodeBin, args...)
	// The pack's own directory: run-policy-pack finds its tsconfig.json and package.json there.
	cmd.Dir = r.ProgramDir
	cmd.Env = r.Env
	if len(cmd.Env) == 0 {
		cmd.Env = os.Environ()
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", filepath.Base(runPath), err)
	}
	var sendLock sync.Mutex
	send := func(resp *pulumirpc.RunPluginResponse) error {
		sendLock.Lock()
		defer sendLock.Unlock()
		return server.Send(resp)
	}
	var streams sync.WaitGroup
	forward := func(from io.Reader, wrap func([]byte) *pulumirpc.RunPluginResponse) {
		defer streams.Done()
		buf := make([]byte, outputChunkSize)
		for {
			n, readErr := from.Read(buf)
			if n > 0 {
				chunk := append([]byte(nil), buf[:n]...)
				if sendErr := send(wrap(chunk)); sendErr != nil {
					return
				}
			}
			if readErr != nil {
				return
			}
		}
	}
	streams.Add(2)
	go forward(stdout, func(b []byte) *pulumirpc.RunPluginResponse {
		return &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: b}}
	})
	go forward(stderr, func(b []byte) *pulumirpc.RunPluginResponse {
		return &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: b}}
	})
	// Both pipes drained before Wait, as os/exec requires.
	streams.Wait()
	code := int32(0)
	if err := cmd.Wait(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return err
		}
		code = int32(exitErr.ExitCode())
		if code == 0 {
			code = defaultPluginExitCode
		}
	}
	return send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: code}})
}

// resolveModule asks node where MODULE resolves from DIR (the plugin's own node_modules).
func resolveModule(nodeBin, dir, module string) (string, error) {
	cmd := exec.Command(nodeBin, "-e", "console.log(require.resolve(process.argv[1]))", module)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}
