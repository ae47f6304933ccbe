#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certsd-migrate developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

# The module runs on the managed node. It must stay valid Python for every
# interpreter ansible-core 2.14 manages (2.7 and 3.5 to 3.11) and for current
# ones: no f-strings, no walrus, no match.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: registry_hosts
short_description: Migrate containerd's CRI registry settings to config_path and hosts.toml
version_added: 0.1.0
description:
  - Runs C(certsd-migrate) on the node, which moves containerd's deprecated CRI
    C(registry.mirrors), C(registry.configs.*.tls) and C(registry.auths)
    settings to C(config_path) and C(<certs_dir>/<registry>/hosts.toml) files,
    editing config.toml in place (comments and key order kept).
  - In check mode it returns the plan and writes nothing; with C(--diff) it
    returns one before/after pair per file, with credentials redacted.
  - The collection's action plugin copies a static certsd-migrate binary for
    the node's architecture into the task's temporary directory, so nothing has
    to be installed first, not even for check mode.
  - Reports C(restart_required) when a containerd config file changed (hosts.toml
    changes take effect on the next pull without a restart), and
    C(restart_pending) when an earlier run changed a config file after the
    running containerd started.
author:
  - certsd-migrate developers
options:
  config:
    description:
      - The containerd config file.
      - Default C(/etc/containerd/config.toml), else k0s's C(/etc/k0s/containerd.toml).
        A missing default config means containerd runs on its defaults, so
        there is nothing to migrate; a missing I(config) that was given is an error.
    type: path
  registries:
    description:
      - Convert a k3s/RKE2 C(registries.yaml) at this path instead of the config's
        own registry settings; I(config) is then the config that gets C(config_path)
        (created when absent).
    type: path
  flavor:
    description:
      - Who reads a converted I(registries) file. C(k3s) keeps rewrite rules, which
        only k3s's containerd reads.
    type: str
    choices: [containerd, k3s]
    default: containerd
  rewrite_to_path:
    description:
      - With I(registries), turn a rewrite that only adds a repository prefix into an
        endpoint path with C(override_path).
    type: bool
    default: false
  certs_dir:
    description:
      - The C(config_path) directory to write.
      - Default the config's own C(config_path), else C(/etc/containerd/certs.d).
    type: path
  root:
    description:
      - Treat this directory as the file system root for every path (offline
        conversion of a copy of a node, simulated fleets).
    type: path
  auth:
    description:
      - Where legacy credentials go. C(keep) leaves them in config.toml as
        C(configs."<host>".auth); C(header) turns them into an Authorization header in hosts.toml.
    type: str
    choices: [keep, header]
    default: keep
  containerd_version:
    description:
      - The containerd that will read the output, for example C(1.6.20), C(1.7) or C(2.1).
      - Default output valid on every release from 1.6.17 through 2.x.
    type: str
  k0s_version:
    description:
      - The k0s release of the node, for example C(1.35) or C(v1.36.3+k0s.0).
      - Default told from what C(/etc/k0s/containerd.toml) imports.
    type: str
  to_config_version:
    description:
      - Rewrite older config files as this config version (k0s 1.36 needs C(3)).
    type: int
    choices: [3]
  force:
    description:
      - Replace hosts.toml files that certsd-migrate did not write, after backing them up.
    type: bool
    default: false
  backup:
    description:
      - Keep a timestamped backup of every config file that is modified.
    type: bool
    default: true
  fail_on_warnings:
    description:
      - Warning codes that fail the task before anything is written, or C(all).
      - The codes are listed in the README's "Warning codes" table. C(all) is the
        CLI's C(--strict).
    type: list
    elements: str
    default: []
  containerd_started_at:
    description:
      - When the node's running containerd started (RFC 3339), for C(restart_pending).
      - Default found from the running containerd process when I(root) is not set;
        with I(root) and no value, C(restart_pending) is not reported.
    type: str
  binary:
    description:
      - The certsd-migrate binary on the node.
      - Set by the collection's action plugin to the copy it brings for the
        node's architecture; default C(certsd-migrate) from C(PATH) when the
        collection carries no binary for the node.
    type: path
attributes:
  check_mode:
    support: full
    description: Returns the plan and writes nothing.
  diff_mode:
    support: full
    description: One before/after pair per file to create or modify; credentials are redacted.
  platform:
    platforms: posix
    support: full
    description: Linux nodes, amd64 and arm64.
notes:
  - A hosts.toml change takes effect on the next pull; a config.toml change needs a
    containerd restart. Restart where I(restart_required) or I(restart_pending) is
    true (the collection's C(rolling_upgrade) playbook does).
seealso:
  - name: certsd-migrate README
    description: Conversion rules, warning codes and the JSON report.
    link: https://github.com/certsd-migrate/certsd-migrate
"""

EXAMPLES = r"""
- name: Preview the registry migration (also under --check --diff)
  certsd_migrate.containerd.registry_hosts:
  check_mode: true
  register: plan

- name: Migrate, refusing any warning about credentials kept in config.toml
  certsd_migrate.containerd.registry_hosts:
    auth: header
    containerd_version: "2.1"
    fail_on_warnings:
      - auth-header-token-registry
  register: migration
  notify: Restart containerd

- name: Migrate a k0s 1.36 node's drop-in, rewritten as version 3
  certsd_migrate.containerd.registry_hosts:
    k0s_version: "1.36"
    to_config_version: 3

- name: Convert k3s's registries.yaml for the upstream containerd of a node copy
  certsd_migrate.containerd.registry_hosts:
    root: /srv/node-copy
    registries: /etc/rancher/k3s/registries.yaml
    config: /etc/containerd/config.toml
    flavor: containerd
    rewrite_to_path: true
    certs_dir: /etc/containerd/certs.d
    force: false
    backup: true
    containerd_started_at: "2026-12-01T10:00:00Z"
    fail_on_warnings: all
"""

RETURN = r"""
changed:
  description: Whether a file was (in check mode, would be) created or modified.
  returned: always
  type: bool
  sample: true
files:
  description: Every file the plan touches, without contents (see the diff for those).
  returned: success
  type: list
  elements: dict
  sample:
    - {path: /etc/containerd/config.toml, kind: config, action: modify, mode: "0644"}
    - {path: /etc/containerd/certs.d/docker.io/hosts.toml, kind: hosts, action: create, mode: "0644"}
certs_dir:
  description: The config_path directory the plan writes.
  returned: success
  type: str
  sample: /etc/containerd/certs.d
tool_warnings:
  description: The tool's warnings (also shown as Ansible warnings), with their stable codes.
  returned: success
  type: list
  elements: dict
  sample:
    - code: auth-kept-in-config
      message: credentials stay in config.toml
      file: /etc/containerd/config.toml
      line: 34
      column: 8
warning_codes:
  description: The codes of I(tool_warnings), sorted and without duplicates.
  returned: success
  type: list
  elements: str
  sample: [auth-kept-in-config]
restart_required:
  description:
    - A containerd config file was (in check mode, would be) changed, so containerd
      must restart to read it.
  returned: success
  type: bool
  sample: true
restart_pending:
  description:
    - An apply changed a config file after the running containerd started, so the node
      was migrated but containerd still runs the old settings. Not returned when the
      start time is unknown (I(root) without I(containerd_started_at), or containerd
      not running).
  returned: when known
  type: bool
  sample: false
last_apply:
  description: The record of the last apply that changed files on this node.
  returned: when the node has been migrated by certsd-migrate
  type: dict
  sample: {config: /etc/containerd/config.toml, time: "2026-12-01T10:31:02.5Z",
           config_changed_at: "2026-12-01T10:31:02.5Z", files: [/etc/containerd/config.toml]}
no_config:
  description:
    - The node has no containerd config where containerd looks for one, so containerd
      runs on its defaults and there is nothing to migrate.
  returned: success
  type: bool
  sample: false
backups:
  description: Backup copies made of replaced files.
  returned: when files were replaced
  type: list
  elements: str
  sample: [/etc/containerd/config.toml.certsd-migrate-20261201T103102Z.bak]
error:
  description: Where the input is wrong, beside the one-line message in I(msg).
  returned: failure
  type: dict
  sample: {message: "/etc/containerd/config.toml:4:43: invalid TOML: basic strings cannot have new lines",
           file: /etc/containerd/config.toml, line: 4, column: 43, kind: syntax}
cmd:
  description: The certsd-migrate command line that ran.
  returned: always
  type: list
  elements: str
  sample: [certsd-migrate, apply, -o, json]
"""

import json

from ansible.module_utils.basic import AnsibleModule

# Option name -> the command-line flag it becomes (a value flag).
VALUE_FLAGS = [
    ("config", "--config"),
    ("registries", "--registries"),
    ("flavor", "--flavor"),
    ("certs_dir", "--certs-dir"),
    ("root", "--root"),
    ("auth", "--auth"),
    ("containerd_version", "--containerd-version"),
    ("k0s_version", "--k0s-version"),
    ("to_config_version", "--to-config-version"),
    ("containerd_started_at", "--containerd-started-at"),
]

ARGUMENT_SPEC = dict(
    config=dict(type="path"),
    registries=dict(type="path"),
    flavor=dict(type="str", choices=["containerd", "k3s"], default="containerd"),
    rewrite_to_path=dict(type="bool", default=False),
    certs_dir=dict(type="path"),
    root=dict(type="path"),
    auth=dict(type="str", choices=["keep", "header"], default="keep"),
    containerd_version=dict(type="str"),
    k0s_version=dict(type="str"),
    to_config_version=dict(type="int", choices=[3]),
    force=dict(type="bool", default=False),
    backup=dict(type="bool", default=True),
    fail_on_warnings=dict(type="list", elements="str", default=[]),
    containerd_started_at=dict(type="str"),
    binary=dict(type="path"),
)


def command_line(binary, params, check_mode):
    """The certsd-migrate command for these module parameters."""
    cmd = [binary, "diff" if check_mode else "apply", "-o", "json", "--color", "never"]
    for option, flag in VALUE_FLAGS:
        value = params.get(option)
        if value is None:
            continue
        if option == "flavor" and value == "containerd" and not params.get("registries"):
            continue  # the default; the tool refuses --flavor without --registries
        cmd.extend([flag, str(value)])
    if params.get("rewrite_to_path"):
        cmd.append("--rewrite-to-path")
    if params.get("force"):
        cmd.append("--force")
    if not params.get("backup"):
        cmd.append("--no-backup")
    codes = [c.strip() for c in params.get("fail_on_warnings") or [] if c.strip()]
    if codes:
        cmd.extend(["--fail-on-warnings", ",".join(codes)])
    return cmd


def position_text(position):
    position = position or {}
    text = position.get("file") or ""
    if position.get("line"):
        text += ":%d:%d" % (position["line"], position.get("column") or 0)
    return text


def file_diff(f):
    """Ansible's diff entry for one file of the report (contents already redacted)."""
    before_header = f["path"]
    if f.get("action") == "create":
        before_header = "%s (absent)" % f["path"]
    return dict(
        before=f.get("before") or "",
        after=f.get("after") or "",
        before_header=before_header,
        after_header=f["path"],
    )


def tool_error(rc, stdout, stderr):
    """The tool's error: the JSON object on stdout, else its last stderr line."""
    try:
        doc = json.loads(stdout)
        if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
            return doc["error"]
    except ValueError:
        pass
    lines = [line for line in (stderr or "").splitlines() if line.strip()]
    message = lines[-1] if lines else "certsd-migrate exited %d with no message" % rc
    prefix = "certsd-migrate: "
    if message.startswith(prefix):
        message = message[len(prefix):]
    return dict(message=message, kind="unknown")


def run_module():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    binary = params.get("binary") or module.get_bin_path("certsd-migrate")
    if not binary:
        module.fail_json(msg="certsd-migrate is not on the node's PATH and the collection carries no binary for "
                             "the node's architecture (build them with ansible/build.sh)", changed=False, cmd=[])
    cmd = command_line(binary, params, module.check_mode)
    rc, stdout, stderr = module.run_command(cmd, environ_update=dict(NO_COLOR="1", LC_ALL="C"))

    if rc not in (0, 1):
        err = tool_error(rc, stdout, stderr)
        module.fail_json(msg=err.get("message"), error=err, rc=rc, stderr=stderr, cmd=cmd, changed=False)
    try:
        report = json.loads(stdout)
    except ValueError:
        module.fail_json(msg="certsd-migrate printed no JSON report (is it older than this collection?)",
                         rc=rc, stdout=stdout, stderr=stderr, cmd=cmd, changed=False)

    files = report.get("files") or []
    touched = [f for f in files if f.get("action") in ("create", "modify")]
    warnings = []
    for w in report.get("warnings") or []:
        pos = w.get("position") or {}
        warnings.append(dict(code=w.get("code"), message=w.get("message"),
                             file=pos.get("file"), line=pos.get("line"), column=pos.get("column")))
        where = position_text(pos)
        module.warn("%s%s [%s]" % (where + ": " if where else "", w.get("message"), w.get("code")))

    result = dict(
        changed=bool(report.get("changed")),
        cmd=cmd,
        certs_dir=report.get("certs_dir"),
        files=[dict(path=f.get("path"), kind=f.get("kind"), action=f.get("action"), mode=f.get("mode"))
               for f in files],
        tool_warnings=warnings,
        warning_codes=sorted(set(w["code"] for w in warnings if w["code"])),
        restart_required=any(f.get("kind") == "config" for f in touched),
        backups=report.get("backups") or [],
        no_config=bool(report.get("no_config")),
    )
    # restart_pending: the tool knows it when it knows containerd's start
    # time; an apply that changed a config file in this very run makes it
    # true either way.
    pending = report.get("restart_pending")
    if result["restart_required"] and not module.check_mode:
        pending = True
    if pending is not None:
        result["restart_pending"] = bool(pending)
    if report.get("last_apply"):
        result["last_apply"] = report["last_apply"]
    if module._diff:
        result["diff"] = [file_diff(f) for f in touched]
    module.exit_json(**result)


def main():
    run_module()


if __name__ == "__main__":
    main()
