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
import sys

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.plugins.connection import ConnectionBase

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from labmodel import host as lab_host  # noqa: E402  pylint: disable=wrong-import-position
from labmodel import payload  # noqa: E402  pylint: disable=wrong-import-position
from labmodel import profiles  # noqa: E402  pylint: disable=wrong-import-position
from labmodel import store as lab_store  # noqa: E402  pylint: disable=wrong-import-position


class Connection(ConnectionBase):
    transport = "mde_lab"
    has_pipelining = True
    always_pipeline_modules = True

    @property
    def module_implementation_preferences(self):
        return (".ps1", "") if self._shell.SHELL_FAMILY == "powershell" else (".py", "")

    def _profile(self):
        profile = self.get_option("profile")
        if profile not in profiles.PROFILES:
            raise AnsibleError(f"mde_lab: host needs mde_lab_profile, one of {', '.join(sorted(profiles.PROFILES))}; "
                               f"got {profile!r}")
        want = "powershell" if profiles.PROFILES[profile]["platform"] == "windows" else "sh"
        if self._shell.SHELL_FAMILY != want:
            raise AnsibleError(f"mde_lab: profile {profile} needs ansible_shell_type {want}")
        return profile

    def _connect(self):
        self._profile()
        if "unreachable" in (self.get_option("faults") or []):
            raise AnsibleConnectionFailure(f"mde_lab: {self.get_option('lab_host')} did not answer (fault 'unreachable')")
        self._connected = True
        return self

    def exec_command(self, cmd, in_data=None, sudoable=True):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        self._connect()
        if not in_data:
            raise AnsibleError(f"mde_lab: only pipelined module runs are modeled, not raw commands ({cmd[:80]!r})")
        try:
            call = (payload.decode_powershell(in_data) if self._shell.SHELL_FAMILY == "powershell"
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
