package rig

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

// HTTPServer is a small server running in the test process on 127.0.0.1
// that records every request it answers.
type HTTPServer struct {
	*requestLog
	Addr string
	srv  *http.Server
}

// URL is the server's base URL.
func (s *HTTPServer) URL() string { return "http://" + s.Addr }

// Close stops the server.
func (s *HTTPServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("stopping %s: %w", s.name, err)
	}
	return nil
}

func serve(name string, h http.Handler) (*HTTPServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for %s: %w", name, err)
	}
	log := &requestLog{name: name}
	s := &HTTPServer{
		requestLog: log,
		Addr:       l.Addr().String(),
		srv:        &http.Server{Handler: recording(log, h), ReadHeaderTimeout: 10 * time.Second},
	}
	go s.srv.Serve(l) //nolint:errcheck // ends with http.ErrServerClosed on Close
	return s, nil
}

// StartPrefixProxy serves <prefix>/<rest> by proxying it to <backend>/v2/<rest>:
// a registry whose API root is a path without /v2, which legacy containerd
// reaches through an endpoint "http://host/prefix" and hosts.toml only with
// override_path = true. Any other path is answered 404.
func StartPrefixProxy(prefix, backend string) (*HTTPServer, error) {
	target, err := url.Parse(backend)
	if err != nil {
		return nil, fmt.Errorf("parsing proxy backend %q: %w", backend, err)
	}
	prefix = "/" + strings.Trim(prefix, "/") + "/"
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.URL.Path = "/v2/" + strings.TrimPrefix(r.In.URL.Path, prefix)
			r.Out.URL.RawPath = ""
			r.Out.Host = target.Host
		},
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, prefix) {
			http.NotFound(w, r)
			return
		}
		rp.ServeHTTP(w, r)
	})
	return serve("prefix-proxy", h)
}

// StartDownServer answers every request with 503 Service Unavailable: an
// endpoint that is listed but down, whose attempts can still be counted.
func StartDownServer() (*HTTPServer, error) {
	return serve("down", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for the test", http.StatusServiceUnavailable)
	}))
}

// StartHeaderGate proxies every request to backend unchanged, but only if it
// carries header: value; otherwise it answers 403. It stands for a registry
// (or front proxy) that needs the CRI `registry.headers`.
func StartHeaderGate(header, value, backend string) (*HTTPServer, error) {
	target, err := url.Parse(backend)
	if err != nil {
		return nil, fmt.Errorf("parsing gate backend %q: %w", backend, err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
		},
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(header) != value {
			http.Error(w, "missing "+header, http.StatusForbidden)
			return
		}
		rp.ServeHTTP(w, r)
	})
	return serve("header-gate", h)
}
