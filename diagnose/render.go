package diagnose

import (
	"encoding/json"
	"fmt"
	"io"
	"path"
	"regexp"
	"sort"
	"strings"
)

// Redacted replaces header values (credentials) in anything printed.
const Redacted = "<redacted>"

// sampleImage is an image reference for the test commands.
func sampleImage(ns string) string {
	switch ns {
	case "docker.io":
		return "docker.io/library/busybox:latest"
	case "_default":
		return "<registry>/<repository>:<tag>"
	}
	return ns + "/<repository>:<tag>"
}

// testCommands are the pulls that exercise the host list: crictl goes
// through the CRI plugin (config_path); ctr reads hosts.toml only with
// --hosts-dir (no default: cmd/ctr/commands/resolver.go, v2.4.2); nerdctl
// reads /etc/containerd/certs.d and /etc/docker/certs.d by default as root
// (pkg/defaults/defaults_linux.go, v2.1.3), another directory with
// --hosts-dir.
func (r *Report) testCommands(ns string) []string {
	img := sampleImage(ns)
	dir := "/etc/containerd/certs.d"
	if len(r.CertsDirs) > 0 {
		dir = r.CertsDirs[0]
	}
	nerdctl := "nerdctl pull " + img
	if dir != "/etc/containerd/certs.d" && dir != "/etc/docker/certs.d" {
		nerdctl = "nerdctl --hosts-dir " + dir + " pull " + img
	}
	return []string{
		"crictl pull " + img,
		"ctr -n k8s.io images pull --hosts-dir " + dir + " " + img,
		nerdctl,
	}
}

// Options control how a report is printed.
type Options struct {
	ShowSecrets bool
}

func (r *Report) redact(s string, o Options) string {
	if o.ShowSecrets {
		return s
	}
	return Redacted
}

// urlUserinfo is the user information of a URL (https://user:pass@host),
// which a host key or server may carry and a message may quote.
var urlUserinfo = regexp.MustCompile(`(://)[^/@\s"']+@`)

// hideUserinfo hides URL user information unless secrets are shown.
func hideUserinfo(s string, o Options) string {
	if o.ShowSecrets || !strings.Contains(s, "@") {
		return s
	}
	return urlUserinfo.ReplaceAllString(s, "${1}<redacted>@")
}

// WriteText prints findings, then the explained namespaces.
func (r *Report) WriteText(w io.Writer, o Options) error {
	var b strings.Builder
	for _, f := range r.Findings {
		fmt.Fprintln(&b, hideUserinfo(f.String(), o))
		if f.Fix != "" {
			fmt.Fprintf(&b, "\tfix: %s\n", hideUserinfo(f.Fix, o))
		}
	}
	for i, ns := range r.Namespaces {
		if i > 0 || len(r.Findings) > 0 {
			b.WriteString("\n")
		}
		r.writeNamespace(&b, ns, o)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) writeNamespace(b *strings.Builder, ns Namespace, o Options) {
	title := ns.Name
	if ns.Name == "_default" {
		title = "_default (every registry without a directory of its own)"
	}
	from := ns.From
	if ns.Dir != "" {
		from += " in " + ns.Dir
	}
	if ns.From == "legacy" {
		fmt.Fprintf(b, "%s: legacy registry settings, as containerd %s reads them\n", title, r.Explained)
	} else {
		fmt.Fprintf(b, "%s: %s, as containerd %s reads it\n", title, from, r.Explained)
	}
	if ns.Error != "" {
		fmt.Fprintf(b, "  every pull fails: %s\n", ns.Error)
	}
	if ns.Note != "" {
		fmt.Fprintf(b, "  %s\n", ns.Note)
	}
	for i, h := range ns.Hosts {
		fmt.Fprintf(b, "  %d. %s", i+1, h.URL())
		if ns.Name == "_default" && h.Host == "*" {
			b.WriteString(" (the image's own registry)")
		}
		fmt.Fprintf(b, "  [%s]", strings.Join(h.Capabilities, " "))
		if h.HTTPSFirst {
			b.WriteString(" https-first (falls back to http)")
		}
		if h.SkipVerify {
			b.WriteString(" skip_verify")
		}
		for _, ca := range h.CA {
			b.WriteString(" ca=" + ca)
		}
		for _, c := range h.Client {
			b.WriteString(" client=" + c[0])
			if c[1] != "" {
				b.WriteString("," + c[1])
			}
		}
		if h.DialTimeout != "" {
			b.WriteString(" dial_timeout=" + h.DialTimeout)
		}
		names := make([]string, 0, len(h.Header))
		for k := range h.Header {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			for _, v := range h.Header[k] {
				fmt.Fprintf(b, " %s: %s", k, r.redact(v, o))
			}
		}
		switch {
		case h.Source.Line > 0:
			fmt.Fprintf(b, "  (%s:%d)", path.Base(h.Source.File), h.Source.Line)
		case h.Source.File != "":
			fmt.Fprintf(b, "  (default upstream, settings from %s)", path.Base(h.Source.File))
		default:
			b.WriteString("  (default upstream)")
		}
		b.WriteString("\n")
	}
	if len(ns.Test) > 0 {
		b.WriteString("  test:\n")
		for _, t := range ns.Test {
			fmt.Fprintf(b, "    %s\n", t)
		}
	}
}

// Summary is the one-line summary.
func (r *Report) Summary() string {
	return fmt.Sprintf("%s (containerd %s)", summary(r.Findings), r.Target)
}

// WriteJSON prints the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer, o Options) error {
	out := *r
	out.Namespaces = nil
	for _, ns := range r.Namespaces {
		n := ns
		n.Hosts = nil
		for _, h := range ns.Hosts {
			if len(h.Header) > 0 {
				hdr := map[string][]string{}
				for k, vs := range h.Header {
					for _, v := range vs {
						hdr[k] = append(hdr[k], r.redact(v, o))
					}
				}
				h.Header = hdr
			}
			n.Hosts = append(n.Hosts, h)
		}
		out.Namespaces = append(out.Namespaces, n)
	}
	out.Findings = nil
	for _, f := range r.Findings {
		f.Message, f.Fix = hideUserinfo(f.Message, o), hideUserinfo(f.Fix, o)
		out.Findings = append(out.Findings, f)
	}
	if out.Findings == nil {
		out.Findings = []Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// AddTests fills in the test commands of the explained namespaces.
func (r *Report) AddTests() {
	for i := range r.Namespaces {
		r.Namespaces[i].Test = r.testCommands(r.Namespaces[i].Name)
	}
}
