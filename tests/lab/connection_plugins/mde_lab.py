# Test-only connection plugin: the simulated lab of defender.endpoint. Never shipped in plugins/.
"""A connection to a simulated Windows or Linux host (tests/lab/README.md)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: mde_lab
short_description: Simulated Windows and Linux hosts for testing defender.endpoint
description:
  - Answers the defender.endpoint executors from a model of each OS (tests/lab/labmodel).
  - Modules are pipelined; the payload ansible-core builds is decoded, validated against the module's
    own argument spec, and answered from the host's modeled state.
options:
  lab_host:
    description: Name of the host's state folder under MDE_LAB_STATE_DIR.
    vars:
      - name: inventory_hostname
  profile:
    description: The OS profile of the host.
    vars:
      - name: mde_lab_profile
  state:
    description: Keys merged over the profile's default state.
    type: dict
    default: {}
    vars:
      - name: mde_lab_state
  faults:
    description: Named faults injected on this host.
    type: list
    default: []
    vars:
      - name: mde_lab_faults
"""

import json
import os
import re
import shlex
import sys

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.plugins.connection import ConnectionBase
from ansible.plugins.loader import get_shell_plugin

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from labmodel import host as lab_host  # noqa: E402  pylint: disable=wrong-import-position
from labmodel import payload  # noqa: E402  pylint: disable=wrong-import-position
from labmodel import profiles  # noqa: E402  pylint: disable=wrong-import-position
from labmodel import store as lab_store  # noqa: E402  pylint: disable=wrong-import-position


class Connection(ConnectionBase):
    transport = "mde_lab"
    has_pipelining = True
    always_pipeline_modules = True

    # Interpreters a modeled Linux host has, answered to ansible-core's interpreter discovery.
    LINUX_PYTHONS = ("/usr/bin/python3",)

    @property
    def module_implementation_preferences(self):
        return (".ps1", "") if self._windows_shell() else (".py", "")

    def _windows_shell(self):
        return self._shell.SHELL_FAMILY in ("powershell", "cmd")

    def set_options(self, task_keys=None, var_options=None, direct=None):
        """Take the shell from the host's profile when the inventory names none, as the winrm connection does
        (its default shell is Windows's) and as ssh does for a POSIX host."""
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        profile = self.get_option("profile")
        if not self._play_context.shell and profile in profiles.PROFILES:
            windows = profiles.PROFILES[profile]["platform"] == "windows"
            if windows != self._windows_shell():
                self._shell = get_shell_plugin(shell_type="powershell" if windows else "sh",
                                               executable=self._play_context.executable)

    def _profile(self):
        profile = self.get_option("profile")
        if profile not in profiles.PROFILES:
            raise AnsibleError(f"mde_lab: host needs mde_lab_profile, one of {', '.join(sorted(profiles.PROFILES))}; "
                               f"got {profile!r}")
        windows = profiles.PROFILES[profile]["platform"] == "windows"
        if windows != self._windows_shell():
            want = "powershell or cmd" if windows else "sh"
            raise AnsibleError(f"mde_lab: profile {profile} needs ansible_shell_type {want}, "
                               f"not {self._shell.SHELL_FAMILY}")
        return profile

    def _discover_interpreter(self, cmd):
        """Answer ansible-core's interpreter discovery (``echo FOUND; command -v ...; echo ENDFOUND``)."""
        words = shlex.split(cmd)   # the shell wraps it: /bin/sh -c 'echo FOUND; ...'
        script = next((w for w in words if "echo FOUND" in w), cmd)
        wanted = re.findall(r"command -v '([^']+)'", script)
        found = [path for name in wanted for path in self.LINUX_PYTHONS if name in (path, path.rsplit("/", 1)[-1])]
        lab_store.log_call(self.get_option("lab_host"), {"raw": "interpreter_discovery", "outcome": "ok"})
        return 0, ("FOUND\n" + "".join(f"{p}\n" for p in dict.fromkeys(found)) + "ENDFOUND\n").encode(), b""

    def _connect(self):
        self._profile()
        if "unreachable" in (self.get_option("faults") or []):
            raise AnsibleConnectionFailure(f"mde_lab: {self.get_option('lab_host')} did not answer (fault 'unreachable')")
        self._connected = True
        return self

    def exec_command(self, cmd, in_data=None, sudoable=True):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        self._connect()
        if not in_data and not self._windows_shell() and "echo FOUND" in cmd and "ENDFOUND" in cmd:
            return self._discover_interpreter(cmd)
        if not in_data:
            raise AnsibleError(f"mde_lab: only pipelined module runs are modeled, not raw commands ({cmd[:80]!r})")
        try:
            call = (payload.decode_powershell(in_data) if self._windows_shell()
                    else payload.decode_python(in_data))
        except payload.PayloadError as exc:
            return 1, b"", str(exc).encode()
        try:
            result = lab_host.execute(self.get_option("lab_host"), self._profile(), self.get_option("state") or {},
                                      list(self.get_option("faults") or []), call)
        except lab_host.ConnectionDropped as exc:
            raise AnsibleConnectionFailure(f"mde_lab: {exc}") from None
        result.setdefault("invocation", {"module_args": call.params})
        return 0, json.dumps(result).encode(), b""

    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        self._connect()
        with open(in_path, "rb") as handle:
            data = handle.read()
        lab_store.stage(self.get_option("lab_host"), out_path, data)
        lab_store.log_call(self.get_option("lab_host"), {"transfer": out_path, "size": len(data), "outcome": "ok"})

    def fetch_file(self, in_path, out_path):
        raise AnsibleError("mde_lab: file transfer is not modeled yet")

    def close(self):
        self._connected = False
