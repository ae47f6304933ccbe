package convert

import (
	"fmt"
	"path"
	"strings"
)

// checkVersions reconciles the config files' versions with the target
// (semantics §1.1, §9).
func (c *converter) checkVersions(files []*ConfigFile) error {
	t := &c.opts.Target
	if c.opts.ToConfigVersion == 3 {
		if !t.includes2x() || (t.Explicit && t.includes1x()) {
			return fmt.Errorf("--to-config-version 3 writes configs only containerd 2.x reads, but the target is containerd %s", t)
		}
		if t.includes1x() {
			t.Min = v2_0
		}
	}
	for _, f := range files {
		if f.Version != 3 {
			continue
		}
		if !t.includes2x() {
			return errorf(Position{File: f.Path}, "a version 3 config is read only by containerd 2.x, but the target is containerd %s", t)
		}
		if !t.Explicit && t.includes1x() {
			t.Min = v2_0 // the node runs containerd 2.x
		}
	}
	main := files[0]
	if main.Version == 1 && t.includes2x() && t.Min.Less(release{2, 3, 0}) {
		c.warn(Warning{Code: WarnV1ConfigOn2x, Pos: Position{File: main.Path},
			Message: "this is a version 1 config: containerd 2.0–2.2 ignore every CRI setting in it, config_path included (2.3+ migrate it); before upgrading to 2.x, convert it with `containerd config migrate`"})
	}
	return nil
}

// authFile is the config file credentials stay in: where they were, or
// for registries.yaml input, the config that receives them.
func (c *converter) authFile(pos Position) string {
	if c.configFile != "" {
		return c.configFile
	}
	return pos.File
}

// versionWarnings reports what the output needs from the target, and what
// behaves differently across it.
func (c *converter) versionGates(res *Result) error {
	t := c.opts.Target
	for _, f := range res.Hosts {
		if f.Namespace == "*" && t.Min.Less(defaultDirSince) {
			return errorf(c.reg.Mirrors["*"].Pos, "mirrors.\"*\" becomes the _default directory, which containerd supports from 1.6.17 and 1.7.0; the target containerd %s has no equivalent", t)
		}
	}
	if c.reg.ConfigPath != nil && c.reg.ConfigPath.Value != "" && len(c.reg.Mirrors) > 0 {
		pos := c.reg.ConfigPath.Pos
		c.warn(Warning{Code: WarnHalfMigrated, Pos: pos,
			Message: "config_path and mirrors are both set: containerd currently refuses to load its CRI plugin (`mirrors` cannot be set when `config_path` is provided); the mirrors move into the existing config_path directory"})
	}
	var kept []string
	var keptPos Position
	headers := false
	for _, h := range sortedKeys(c.auth) {
		ha := c.auth[h]
		if ha.header != "" {
			headers = true
			continue
		}
		switch {
		case validHost(h) != nil:
			c.warn(Warning{Code: WarnConfigKeyNotHost, Pos: ha.Pos,
				Message: fmt.Sprintf("configs key %q is not a host[:port]; containerd looks credentials up by the host it contacts, so these never applied; they are left as they are", h)})
			continue
		case h == "docker.io":
			c.warn(Warning{Code: WarnDockerHubConfigKey, Pos: ha.Pos,
				Message: "configs.\"docker.io\".auth never applied to Docker Hub pulls, which authenticate against registry-1.docker.io; it is left as it is (key it registry-1.docker.io to use it)"})
			continue
		}
		if keptPos.File == "" {
			keptPos = ha.Pos
		}
		kept = append(kept, h)
	}
	if len(kept) > 0 {
		msg := fmt.Sprintf("credentials for %s stay in %s as configs.<host>.auth: containerd reads them beside config_path, but they are deprecated (containerd plans to remove them; 2.4 still reads them) and ctr/nerdctl --hosts-dir do not read them", strings.Join(kept, ", "), path.Base(c.authFile(keptPos)))
		if t.Max.AtLeast(v2_1) {
			msg += "; containerd 2.1+ pulls in local mode while they are set"
		}
		c.warn(Warning{Code: WarnAuthKept, Pos: keptPos, Message: msg})
	}
	if headers {
		msg := "credentials became a static `Authorization: Basic` header in hosts.toml (file mode 0600): registries that accept Basic auth directly work; token-based registries (Docker Hub, Harbor, GHCR, …) answer with a Bearer challenge"
		if t.Min.Less(v2_1) {
			msg += ", and containerd before 2.1 does not send the header to the token server, so private pulls from them fail"
		} else {
			msg += " and may not accept the header at their token endpoint"
		}
		c.warn(Warning{Code: WarnAuthHeaderToken, Pos: Position{File: res.CertsDir}, Message: msg})
	}
	if !t.includes1x() {
		for _, h := range sortedKeys(c.reg.Configs) {
			if tls := c.reg.Configs[h].TLS; tls != nil && tlsMeaningful(tls) {
				c.warn(Warning{Code: WarnTLSRestoredOn2x, Pos: tls.Pos,
					Message: fmt.Sprintf("containerd 2.x ignores configs.%s.tls; in hosts.toml it takes effect again", quoteKey(h))})
			}
		}
	}
	return nil
}
