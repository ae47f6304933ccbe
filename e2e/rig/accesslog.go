package rig

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Request is one HTTP request a server answered.
type Request struct {
	Method string
	Path   string // without the query string
	Status int
}

func (r Request) String() string { return fmt.Sprintf("%s %s -> %d", r.Method, r.Path, r.Status) }

// Witness is a server whose answered requests can be read back, so a test can
// tell which server a pull really went to.
type Witness interface {
	// Name identifies the server in messages.
	Name() string
	// Mark is a position in the request history; pass it to RequestsSince.
	Mark() int64
	// RequestsSince lists the requests answered after mark.
	RequestsSince(mark int64) ([]Request, error)
	// LogSince is the raw log after mark, for failure reports.
	LogSince(mark int64) string
}

// combinedLogLine matches the request part of an Apache combined log line, as
// written by distribution's access log: "GET /v2/x/blobs/sha256:.. HTTP/1.1" 200
var combinedLogLine = regexp.MustCompile(`"([A-Z]+) (\S+) HTTP/[0-9.]+" ([0-9]{3})`)

func parseAccessLog(text string) []Request {
	var out []Request
	for _, line := range strings.Split(text, "\n") {
		m := combinedLogLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		status, _ := strconv.Atoi(m[3])
		path, _, _ := strings.Cut(m[2], "?")
		out = append(out, Request{Method: m[1], Path: path, Status: status})
	}
	return out
}

// requestLog is an in-memory Witness for servers running in the test process.
type requestLog struct {
	name string
	mu   sync.Mutex
	reqs []Request
}

func (l *requestLog) Name() string { return l.name }

func (l *requestLog) Mark() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.reqs))
}

func (l *requestLog) RequestsSince(mark int64) ([]Request, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if mark > int64(len(l.reqs)) {
		return nil, fmt.Errorf("%s: mark %d beyond %d requests", l.name, mark, len(l.reqs))
	}
	return append([]Request(nil), l.reqs[mark:]...), nil
}

func (l *requestLog) LogSince(mark int64) string {
	reqs, err := l.RequestsSince(mark)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, r := range reqs {
		b.WriteString(r.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func (l *requestLog) add(r Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, r)
}

// statusRecorder captures the status an http.Handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// recording wraps h so that every answered request lands in log.
func recording(log *requestLog, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		log.add(Request{Method: r.Method, Path: r.URL.Path, Status: rec.status})
	})
}
