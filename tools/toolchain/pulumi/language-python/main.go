// Command pulumi-language-python is our build of Pulumi's Python language host: the plugin the CLI starts to
// run a Python program (`pulumi preview/up/destroy`) or a Python policy pack (`--policy-pack`).
//
// Pulumi publishes its own host as the Go module github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python,
// which the module proxy our machines reach does not serve. Everything a host needs is in the served sdk/v3
// module, though: the gRPC protocol, the Python toolchain resolution (virtualenv, pip/poetry/uv) and the
// `pulumi-language-python-exec` runner script that hooks the program up to the engine. This host wires those
// together; it implements what the CLI needs for the three jobs our users run (run a program, run a policy
// pack, report the packages a program needs) and answers Unimplemented for code generation (`pulumi convert`,
// `pulumi new`).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

// version is set at build time to the Pulumi SDK version the host ships with.
var version = "0.0.0-dev"

// userActionableExit is the runner's exit code after it has shown the user an actionable error: the engine
// then stops without printing a second, generic error.
const userActionableExit = 32

// pluginListing prints, as JSON, every installed distribution that ships a `pulumi-plugin.json` (the
// provider SDKs): the plugins a program in that environment can ask the engine for.
const pluginListing = `
import json, importlib.metadata as md
out = []
for dist in md.distributions():
    for f in dist.files or ():
        if f.name == "pulumi-plugin.json":
            meta = json.loads(f.read_text())
            if meta.get("resource"):
                out.append({"name": meta.get("name") or dist.metadata["Name"].removeprefix("pulumi_").removeprefix("pulumi-"),
                            "version": meta.get("version") or dist.version, "server": meta.get("server", "")})
print(json.dumps(out))
`

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engine  string
	tracing string
	runner  string
}

func main() {
	tracing := flag.String("tracing", "", "Emit tracing to a Zipkin-compatible tracing endpoint")
	// Accepted for compatibility with the CLI's invocation; the program's options come with each request.
	flag.String("root", "", "Project root (unused: each request carries it)")
	flag.String("virtualenv", "", "Virtual environment (unused: each request carries it)")
	flag.String("toolchain", "", "Python toolchain (unused: each request carries it)")
	flag.String("typechecker", "", "Type checker (unused)")
	flag.Parse()

	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	h := &host{tracing: *tracing, runner: filepath.Join(filepath.Dir(self), "pulumi-language-python-exec")}
	if flag.NArg() > 0 {
		h.engine = flag.Arg(0)
	}
	if _, err := os.Stat(h.runner); err != nil {
		fail(fmt.Errorf("pulumi-language-python-exec must sit beside this host: %w", err))
	}

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(s *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(s, h)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		fail(err)
	}
	// The CLI reads the port from the first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	go exitWithParent(os.Getppid())
	if err := <-handle.Done; err != nil {
		fail(err)
	}
}

// exitWithParent ends the host once the CLI that started it is gone. The CLI kills its plugins when it
// closes them, but not on every early exit: a `pulumi preview` that stopped at a configuration error left
// this host running, orphaned.
func exitWithParent(parent int) {
	for range time.Tick(time.Second) {
		if os.Getppid() != parent {
			os.Exit(0)
		}
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
	os.Exit(1)
}

// pythonFor resolves the interpreter of a program or policy pack from its runtime options in Pulumi.yaml
// (`virtualenv`, `toolchain`), relative to its root directory.
func pythonFor(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, error) {
	if info == nil {
		return nil, errors.New("the CLI sent no program info")
	}
	opts := toolchain.PythonOptions{Root: info.RootDirectory, ProgramDir: info.ProgramDirectory, Toolchain: toolchain.Pip}
	if o := info.Options; o != nil {
		fields := o.AsMap()
		if v, ok := fields["virtualenv"].(string); ok {
			opts.Virtualenv = v
		}
		switch fields["toolchain"] {
		case nil, "", "pip":
		case "poetry":
			opts.Toolchain = toolchain.Poetry
		case "uv":
			opts.Toolchain = toolchain.Uv
		default:
			return nil, fmt.Errorf("runtime option toolchain: %v is not one of pip, poetry, uv", fields["toolchain"])
		}
	}
	return toolchain.ResolveToolchain(opts)
}

func entryPoint(info *pulumirpc.ProgramInfo) string {
	if info.EntryPoint == "" || info.EntryPoint == "." {
		return info.ProgramDirectory
	}
	return filepath.Join(info.ProgramDirectory, info.EntryPoint)
}

func (h *host) Handshake(
	context.Context, *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// GetRequiredPackages reports the provider SDKs installed in the program's environment, so the engine
// checks their plugins up front (and names a missing one) instead of failing at the first resource.
func (h *host) GetRequiredPackages(
	ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	tc, err := pythonFor(req.Info)
	if err != nil {
		return nil, err
	}
	cmd, err := tc.Command(ctx, "-c", pluginListing)
	if err != nil {
		return nil, err
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing the program's provider SDKs: %w", err)
	}
	var found []struct{ Name, Version, Server string }
	if err := json.Unmarshal(out, &found); err != nil {
		return nil, fmt.Errorf("listing the program's provider SDKs: %w", err)
	}
	resp := &pulumirpc.GetRequiredPackagesResponse{}
	for _, p := range found {
		v := p.Version
		if !strings.HasPrefix(v, "v") {
			v = "v" + v
		}
		resp.Packages = append(resp.Packages, &pulumirpc.PackageDependency{
			Kind: "resource", Name: p.Name, Version: v, Server: p.Server,
		})
	}
	return resp, nil
}

// Run runs the program under the Pulumi runner script with the stack's configuration in the environment
// variables the Python SDK reads (PULUMI_CONFIG, PULUMI_CONFIG_SECRET_KEYS).
func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	tc, err := pythonFor(req.Info)
	if err != nil {
		return nil, err
	}
	args := []string{
		"-u", h.runner,
		"--monitor", req.MonitorAddress,
		"--engine", h.engine,
		"--project", req.Project,
		"--stack", req.Stack,
		"--pwd", req.Pwd,
		"--parallel", strconv.Itoa(int(req.Parallel)),
		"--organization", req.Organization,
		"--root_directory", req.Info.RootDirectory,
		"--dry_run", strconv.FormatBool(req.DryRun),
	}
	if h.tracing != "" {
		args = append(args, "--tracing", h.tracing)
	}
	args = append(append(args, entryPoint(req.Info)), req.Args...)

	// Never `null`: the SDK hands these to the program as a dict and a list.
	config, err := json.Marshal(orEmpty(req.Config))
	if err != nil {
		return nil, err
	}
	secretKeys, err := json.Marshal(append([]string{}, req.ConfigSecretKeys...))
	if err != nil {
		return nil, err
	}
	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return nil, err
	}
	cmd.Dir = req.Pwd
	cmd.Env = append(cmd.Environ(), "PULUMI_CONFIG="+string(config), "PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr

	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return &pulumirpc.RunResponse{}, nil
	case errors.As(err, &exit) && exit.ExitCode() == userActionableExit:
		return &pulumirpc.RunResponse{Bail: true}, nil
	case errors.As(err, &exit):
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exit.ExitCode())}, nil
	default:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Problem executing program: %v", err)}, nil
	}
}

// RunPlugin runs a Python policy pack (its `__main__.py` serves the analyzer and prints its port), streaming
// its output back to the CLI.
func (h *host) RunPlugin(
	req *pulumirpc.RunPluginRequest, server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse],
) error {
	tc, err := pythonFor(req.Info)
	if err != nil {
		return err
	}
	cmd, err := tc.Command(server.Context(), append([]string{"-u", entryPoint(req.Info)}, req.Args...)...)
	if err != nil {
		return err
	}
	cmd.Dir = req.Pwd
	cmd.Env = append(cmd.Environ(), req.Env...)
	cmd.Stdout = streamWriter(func(b []byte) error {
		return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: b}})
	})
	cmd.Stderr = streamWriter(func(b []byte) error {
		return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: b}})
	})
	err = cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		return err
	}
	return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(code)}})
}

// InstallDependencies creates the program's virtualenv and installs its requirements, as `pulumi install`
// and the first `pulumi up` of a fresh clone expect.
func (h *host) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	tc, err := pythonFor(req.Info)
	if err != nil {
		return err
	}
	stdout := streamWriter(func(b []byte) error {
		return server.Send(&pulumirpc.InstallDependenciesResponse{Stdout: b})
	})
	stderr := streamWriter(func(b []byte) error {
		return server.Send(&pulumirpc.InstallDependenciesResponse{Stderr: b})
	})
	return tc.InstallDependencies(server.Context(), req.Info.RootDirectory, req.UseLanguageVersionTools,
		true /*showOutput*/, stdout, stderr)
}

func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	tc, err := pythonFor(req.Info)
	if err != nil {
		return nil, err
	}
	info, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{Executable: info.PythonExecutable, Version: info.PythonVersion.String()}, nil
}

func (h *host) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	tc, err := pythonFor(req.Info)
	if err != nil {
		return nil, err
	}
	deps, err := tc.ListPackages(ctx, req.TransitiveDependencies)
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetProgramDependenciesResponse{}
	for _, d := range deps {
		resp.Dependencies = append(resp.Dependencies, &pulumirpc.DependencyInfo{Name: d.Name, Version: d.Version})
	}
	return resp, nil
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// streamWriter adapts a send function to an io.Writer (each write is sent as one message).
type streamWriter func([]byte) error

func (w streamWriter) Write(p []byte) (int, error) {
	if err := w(append([]byte(nil), p...)); err != nil {
		return 0, err
	}
	return len(p), nil
}

var _ io.Writer = streamWriter(nil)
