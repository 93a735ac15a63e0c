#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mde_host_linux
short_description: Internal Linux executor of the defender.endpoint action plugins
version_added: 0.1.0
description:
  - B(Internal use only.) The defender.endpoint action plugins (M(defender.endpoint.mde_info) and the
    modules built on it) run this module on Linux hosts. Do not call it from a playbook; its interface
    may change without notice.
  - O(operation=probe) reads, in one remote execution, the distribution, the C(mdatp) package and its
    C(mdatp health) report, the onboarding and offboarding files, the managed configuration and the
    processes holding fanotify watches, and changes nothing.
options:
  operation:
    description: What to do.
    type: str
    required: true
    choices: [probe]
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
author:
  - defender.endpoint maintainers (@defender-endpoint)
"""

EXAMPLES = r"""
# Internal module: use defender.endpoint.mde_info instead.
- name: Read the raw facts of a Linux host (what mde_info does for you)
  defender.endpoint.mde_host_linux:
    operation: probe
"""

RETURN = r"""
facts:
  description:
    - The host's facts; see the C(host_facts) return of M(defender.endpoint.mde_info) for the keys.
  returned: success
  type: dict
  sample: {"platform": "linux", "os": {"id": "ubuntu", "version_id": "22.04"}}
"""

import glob
import json
import os
import platform
import shutil

from ansible.module_utils.basic import AnsibleModule

MDATP_DIR = "/etc/opt/microsoft/mdatp"
ONBOARD_JSON = MDATP_DIR + "/mdatp_onboard.json"
OFFBOARD_JSON = MDATP_DIR + "/mdatp_offboard.json"
MANAGED_JSON = MDATP_DIR + "/managed/mdatp_managed.json"
FANOTIFY_IGNORED = ("wdavdaemon", "fapolicyd")


def read_os_release(path="/etc/os-release"):
    values = {}
    try:
        with open(path) as handle:
            for line in handle:
                key, sep, value = line.strip().partition("=")
                if sep:
                    values[key] = value.strip().strip('"')
    except OSError:
        pass
    return {
        "id": values.get("ID"), "version_id": values.get("VERSION_ID"), "pretty_name": values.get("PRETTY_NAME"),
        "id_like": values.get("ID_LIKE"), "kernel": platform.release(), "architecture": platform.machine(),
    }


def org_id_of(path, key):
    """The orgId inside an mdatp onboarding/offboarding json, or None."""
    try:
        with open(path) as handle:
            blob = json.load(handle)[key]
        return json.loads(json.loads(blob)["body"])["orgId"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def mdatp_health(module):
    binary = module.get_bin_path("mdatp")
    if not binary:
        return {"installed": False, "health": None, "health_rc": None}
    rc, out, err = module.run_command([binary, "health", "--output", "json"])
    health = None
    if rc == 0:
        try:
            health = json.loads(out)
        except ValueError:
            health = None
    return {"installed": True, "health": health, "health_rc": rc, "health_stderr": err.strip()[:400] or None}


def managed_config():
    try:
        with open(MANAGED_JSON) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def fanotify_holders():
    holders = []
    for fdinfo in glob.glob("/proc/[0-9]*/fdinfo/*"):
        try:
            with open(fdinfo) as handle:
                if "fanotify mnt_id" not in handle.read():
                    continue
            pid = fdinfo.split("/")[2]
            with open("/proc/%s/comm" % pid) as handle:
                comm = handle.read().strip()
        except OSError:
            continue
        if comm not in FANOTIFY_IGNORED and not any(h["pid"] == int(pid) for h in holders):
            holders.append({"pid": int(pid), "comm": comm})
    return holders


def package_manager(module):
    for name in ("apt-get", "dnf", "yum", "zypper"):
        if module.get_bin_path(name):
            return name
    return None


def probe(module):
    free = shutil.disk_usage("/opt" if os.path.isdir("/opt") else "/").free // (1024 * 1024)
    return {
        "platform": "linux",
        "os": read_os_release(),
        "mdatp": mdatp_health(module),
        "onboarding_json": {"present": os.path.exists(ONBOARD_JSON), "org_id": org_id_of(ONBOARD_JSON, "onboardingInfo")},
        "offboarding_json": {"present": os.path.exists(OFFBOARD_JSON)},
        "managed_config": managed_config(),
        "fanotify_conflicts": fanotify_holders(),
        "package_manager": package_manager(module),
        "free_disk_mb": free,
    }


def main():
    module = AnsibleModule(
        argument_spec=dict(operation=dict(type="str", required=True, choices=["probe"])),
        supports_check_mode=True,
    )
    module.exit_json(changed=False, facts=probe(module))


if __name__ == "__main__":
    main()
