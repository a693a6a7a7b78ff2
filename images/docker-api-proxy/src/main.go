// Ours: docker-api-proxy, the only holder of the Docker socket on the platform, for cAdvisor.
//
// cAdvisor's Docker handler needs four read-only Docker API calls to name a container's cgroup
// (cadvisor v0.60.6 container/docker: Ping for version negotiation, ServerVersion, Info, ContainerInspect).
// Handing it the Docker socket instead would hand it the whole API: a POST /containers/create with the
// host's / bound is root on the host, whatever the mount's read-only flag says. This proxy serves those
// four calls and refuses everything else:
//
//   - only GET and HEAD, only the paths /_ping, /version, /info and /containers/<id>/json (optionally behind
//     an API version prefix /v1.NN), no query string, no request body, no connection upgrade; anything else
//     is answered 403 with Docker's error body ({"message": ...}) and logged, and never reaches the engine;
//   - the upstream request is rebuilt from the checked path, so nothing the client encoded (%2F, ..) reaches
//     the engine's router in another form;
//   - an inspect answer loses Config.Env: in stacks that deliver secrets as variables they are there, and
//     cAdvisor never needs them (its env_metadata_whitelist is unset).
//
// It listens on a unix socket only (no TCP port): the socket lives in a volume that only cAdvisor mounts
// besides this container. Go standard library only.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

var (
	listen   = flag.String("listen", "/run/docker-api-proxy/docker.sock", "unix socket to serve the read-only API on")
	upstream = flag.String("docker", "/var/run/docker.sock", "the Docker engine's unix socket")
	mode     = flag.Uint("socket-mode", 0o666, "permissions of the listening socket (the volume holding it is the access control)")
	probe    = flag.Bool("probe", false, "healthcheck: GET /_ping through the listening socket, exit 0 on 200")
)

// allowed is every path served, each optionally behind a version prefix. A container id or name as Docker
// accepts it: no slash, not starting with a dot.
var allowed = regexp.MustCompile(`^(/v[0-9]+\.[0-9]+)?(/_ping|/version|/info|/containers/([A-Za-z0-9][A-Za-z0-9_.-]*)/json)$`)

// Decision says whether a request may reach the engine; reason is empty when it may.
func Decision(r *http.Request) (path string, inspect bool, reason string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return "", false, "method " + r.Method + " is not allowed (read-only proxy)"
	}
	if r.URL.RawQuery != "" {
		return "", false, "query strings are not allowed"
	}
	if r.ContentLength > 0 || len(r.TransferEncoding) > 0 {
		return "", false, "request bodies are not allowed"
	}
	if r.Header.Get("Upgrade") != "" {
		return "", false, "connection upgrades are not allowed"
	}
	m := allowed.FindStringSubmatch(r.URL.Path)
	if m == nil {
		return "", false, "path " + strconv.Quote(r.URL.Path) + " is not allowed"
	}
	return m[0], m[3] != "", ""
}

// WithoutEnv removes Config.Env from a container inspect document, leaving the rest as the engine wrote it.
func WithoutEnv(body []byte) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	raw, ok := doc["Config"]
	if !ok || string(raw) == "null" {
		return body, nil
	}
	var config map[string]json.RawMessage
	if err := json.Unmarshal(raw, &config); err != nil {
		return nil, err
	}
	delete(config, "Env")
	cleaned, err := json.Marshal(config)
	if err != nil {
		return nil, err
	}
	doc["Config"] = cleaned
	return json.Marshal(doc)
}

func refuse(w http.ResponseWriter, r *http.Request, reason string) {
	log.Printf("refused %s %q: %s", r.Method, r.URL.RequestURI(), reason)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusForbidden)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": "docker-api-proxy: " + reason})
}

type proxy struct{ client *http.Client }

func (p proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, inspect, reason := Decision(r)
	if reason != "" {
		refuse(w, r, reason)
		return
	}
	// Rebuilt from the checked path: no client header, query or raw (encoded) path is passed on.
	out, err := http.NewRequestWithContext(r.Context(), r.Method, "http://docker"+path, nil)
	if err != nil {
		refuse(w, r, err.Error())
		return
	}
	if agent := r.Header.Get("User-Agent"); agent != "" {
		out.Header.Set("User-Agent", agent)
	}
	resp, err := p.client.Do(out)
	if err != nil {
		log.Printf("engine unreachable for %s %s: %v", r.Method, path, err)
		http.Error(w, `{"message":"docker-api-proxy: the engine is unreachable"}`, http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		http.Error(w, `{"message":"docker-api-proxy: reading the engine's answer failed"}`, http.StatusBadGateway)
		return
	}
	if inspect && resp.StatusCode == http.StatusOK && r.Method == http.MethodGet {
		if body, err = WithoutEnv(body); err != nil {
			http.Error(w, `{"message":"docker-api-proxy: unreadable inspect answer"}`, http.StatusBadGateway)
			return
		}
	}
	for _, name := range []string{"Content-Type", "Api-Version", "Docker-Experimental", "Ostype", "Server", "Builder-Version", "Swarm"} {
		if value := resp.Header.Get(name); value != "" {
			w.Header().Set(name, value)
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

func unixClient(socket string) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", socket)
			},
		},
	}
}

func runProbe() int {
	client := unixClient(*listen)
	client.Timeout = 5 * time.Second
	resp, err := client.Get("http://docker/_ping")
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "probe: status", resp.StatusCode)
		return 1
	}
	return 0
}

func main() {
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.LUTC)
	if *probe {
		os.Exit(runProbe())
	}
	// A socket left by an earlier run (the volume outlives the container) would make Listen fail.
	if err := os.Remove(*listen); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Fatalf("removing the old socket %s: %v", *listen, err)
	}
	listener, err := net.Listen("unix", *listen)
	if err != nil {
		log.Fatalf("listening on %s: %v", *listen, err)
	}
	if err := os.Chmod(*listen, os.FileMode(*mode)); err != nil {
		log.Fatalf("chmod %s: %v", *listen, err)
	}
	// Not fatal (the engine may be restarting), but said at once: the usual cause is the container's group.
	if conn, err := net.DialTimeout("unix", *upstream, 5*time.Second); err != nil {
		log.Printf("cannot reach the engine at %s: %v (the container's group must own the socket: stack config dockerSocketGroup)", *upstream, err)
	} else {
		_ = conn.Close()
	}
	server := &http.Server{
		Handler:           proxy{client: unixClient(*upstream)},
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
	}()
	log.Printf("serving GET/HEAD of /_ping, /version, /info, /containers/<id>/json from %s on %s", *upstream, *listen)
	if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
