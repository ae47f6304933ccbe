# -*- coding: utf-8 -*-
# Copyright: certsd-migrate developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

# The action plugin brings the certsd-migrate binary to the node for every
# run: it copies the collection's static binary for the node's architecture
# into the task's remote temporary directory and runs the module with its
# path. Check mode therefore works on a fleet where nothing is installed yet
# (copying the binary with ansible.builtin.copy would only be simulated in
# check mode, and the preview would fail exactly when operators run it first).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

MODULE = "certsd_migrate.containerd.registry_hosts"

# uname -m (and the architecture fact) -> Go's GOARCH.
GOARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
}

FILES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "files")


def bundled_binary(goarch):
    """The collection's binary for goarch, or None when it was not built."""
    path = os.path.join(FILES_DIR, "certsd-migrate-linux-%s" % goarch)
    return path if os.path.isfile(path) else None


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or dict()
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp  # no effect since ansible-core 2.x; the shell's tmpdir is shared

        args = dict(self._task.args)
        try:
            if not args.get("binary"):
                local = self._local_binary(task_vars)
                if local:
                    args["binary"] = self._transfer_binary(local)
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _local_binary(self, task_vars):
        """The bundled binary for the node's architecture, or None (the module
        then uses certsd-migrate from the node's PATH)."""
        machine = (task_vars.get("ansible_facts") or {}).get("architecture")
        if not machine:
            res = self._low_level_execute_command("uname -m", sudoable=False)
            if res.get("rc") != 0:
                raise AnsibleActionFail("cannot learn the node's architecture: uname -m: %s" % to_text(res.get("stderr")).strip())
            machine = to_text(res.get("stdout")).strip()
        goarch = GOARCH.get(machine)
        if goarch is None:
            raise AnsibleActionFail("certsd-migrate is built for linux amd64 and arm64, not %s" % machine)
        return bundled_binary(goarch)

    def _transfer_binary(self, local):
        tmpdir = self._connection._shell.tmpdir
        if tmpdir is None:
            tmpdir = self._make_tmp_path()
        remote = self._connection._shell.join_path(tmpdir, "certsd-migrate")
        self._transfer_file(local, remote)
        self._fixup_perms2((tmpdir, remote), execute=True)
        return remote
