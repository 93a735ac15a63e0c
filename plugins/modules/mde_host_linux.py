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
  - O(operation=apply) runs the planned O(steps) in order - set up Microsoft's repository, install or
    remove C(mdatp), merge keys into the managed configuration, write or remove a file, wait (bounded)
    for C(mdatp health) - stops at the first failure, and returns each step's record and the facts
    read back.
options:
  operation:
    description: What to do.
    type: str
    required: true
    choices: [probe, apply]
  steps:
    description:
      - With O(operation=apply), the steps, each a dict with C(name) (C(setup_repository), C(install_package),
        C(remove_package), C(merge_managed_config), C(write_secret_file), C(remove_file), C(wait_health)) and
        its arguments. Steps name keys of O(secrets); they never hold a secret.
    type: list
    elements: dict
    default: []
  secrets:
    description: The onboarding or offboarding json, by name.
    type: dict
    default: {}
  staged:
    description: Files the controller copied for this apply; deleted when the steps are done.
    type: list
    elements: str
    default: []
  timeout:
    description: Longest run, in seconds, of any one command a step starts.
    type: int
    default: 900
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
steps:
  description: With O(operation=apply), one record per step - name, status (ok, failed, skipped), rc, detail.
  returned: with operation=apply
  type: list
  elements: dict
  sample: [{"name": "install_package", "status": "ok", "rc": 0}]
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
import time

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
        "repository": {"present": bool(repository_files())},
        "free_disk_mb": free,
        "staging_dir": "/var/tmp",
    }


def repository_files():
    return (glob.glob("/etc/apt/sources.list.d/microsoft-*.list") + glob.glob("/etc/yum.repos.d/microsoft-*.repo")
            + glob.glob("/etc/zypp/repos.d/microsoft-*.repo"))


# ---- apply: each step does one documented thing (REFERENCE section 6) and reports what happened ----

def _download(url, timeout):
    """Fetch a small file over HTTPS, through the host's https_proxy when set."""
    from ansible.module_utils.urls import open_url
    return open_url(url, timeout=min(timeout, 120), validate_certs=True).read()


def _write(path, data, mode):
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _run(module, record, args, timeout, env=None):
    cmd = ["timeout", str(timeout)] + args
    rc, out, err = module.run_command(cmd, environ_update=env or {})
    record["rc"] = rc
    if rc == 124:
        record["timed_out"] = True
        record["timeout"] = timeout
    if rc != 0:
        record["detail"] = (err or out).strip()[-400:]
    return rc == 0


def step_setup_repository(module, step, record, timeout):
    base, channel = step["base_url"], step["channel"]
    config = "%s/config/%s/%s/%s" % (base, step["distro"], step["version"], channel)
    key = _download(base + "/keys/microsoft.asc", timeout)
    manager = step["package_manager"]
    if manager == "apt-get":
        listing = _download(config + ".list", timeout)
        keyring = "/usr/share/keyrings/microsoft-prod.gpg"
        rc, dearmored, err = module.run_command(["gpg", "--dearmor"], data=key, binary_data=True,
                                                encoding=None)
        if rc != 0:
            record["detail"] = "gpg --dearmor failed: %s" % err
            return False
        _write(keyring, dearmored, 0o644)
        if b"signed-by" not in listing:
            _write("/etc/apt/trusted.gpg.d/microsoft-prod.gpg", dearmored, 0o644)
        _write("/etc/apt/sources.list.d/microsoft-%s.list" % channel, listing, 0o644)
        return _run(module, record, ["apt-get", "update"], timeout)
    key_path = "/etc/pki/rpm-gpg/microsoft.asc"
    _write(key_path, key, 0o644)
    if not _run(module, record, ["rpm", "--import", key_path], timeout):
        return False
    repo = _download(config + ".repo", timeout)
    folder = "/etc/zypp/repos.d" if manager == "zypper" else "/etc/yum.repos.d"
    _write("%s/microsoft-%s.repo" % (folder, channel), repo, 0o644)
    if manager == "zypper":
        return _run(module, record, ["zypper", "--non-interactive", "refresh"], timeout)
    return _run(module, record, [manager, "makecache"], timeout)


def step_install_package(module, step, record, timeout):
    manager, name, version = step["package_manager"], step["package"], step.get("version")
    if manager == "apt-get":
        spec = "%s=%s" % (name, version) if version else name
        return _run(module, record, ["apt-get", "install", "-y", spec], timeout, {"DEBIAN_FRONTEND": "noninteractive"})
    spec = "%s-%s" % (name, version) if version else name
    if manager == "zypper":
        return _run(module, record, ["zypper", "--non-interactive", "install", spec], timeout)
    return _run(module, record, [manager, "install", "-y", spec], timeout)


def step_remove_package(module, step, record, timeout):
    manager, name = step["package_manager"], step["package"]
    if manager == "apt-get":
        return _run(module, record, ["apt-get", "purge", "-y", name], timeout, {"DEBIAN_FRONTEND": "noninteractive"})
    if manager == "zypper":
        return _run(module, record, ["zypper", "--non-interactive", "remove", name], timeout)
    return _run(module, record, [manager, "remove", "-y", name], timeout)


def step_merge_managed_config(module, step, record, timeout):
    current = managed_config() or {}
    for section, values in step["settings"].items():
        merged = dict(current.get(section) or {})
        for key, value in values.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        current[section] = merged
    _write(MANAGED_JSON, json.dumps(current, indent=2, sort_keys=True).encode(), 0o644)
    return True


def step_write_secret_file(module, step, record, timeout):
    _write(step["path"], module.params["secrets"][step["secret"]].encode(), int(step.get("mode", "0600"), 8))
    return True


def step_remove_file(module, step, record, timeout):
    if os.path.exists(step["path"]):
        os.remove(step["path"])
    return True


def step_wait_health(module, step, record, timeout):
    """Poll mdatp health every 5 s until the condition holds or the step's own timeout passes."""
    deadline = time.time() + int(step.get("timeout", 300))
    while True:
        facts = mdatp_health(module)
        health = facts.get("health") or {}
        if step["until"] == "unlicensed":
            done = facts.get("health_rc") == 0 and not health.get("licensed")
        else:
            done = (health.get("licensed") and health.get("healthy")
                    and str(health.get("org_id", "")).lower() == str(step.get("org_id", "")).lower())
        if done:
            return True
        if time.time() >= deadline:
            record["timed_out"] = True
            record["timeout"] = int(step.get("timeout", 300))
            record["detail"] = (", ".join(health.get("health_issues") or []) or facts.get("health_stderr")
                                or "mdatp health rc %s" % facts.get("health_rc"))
            return False
        time.sleep(5)


STEPS = {name[len("step_"):]: func for name, func in globals().items() if name.startswith("step_")}


def apply(module):
    records, stop = [], False
    try:
        for step in module.params["steps"]:
            record = {"name": step.get("name"), "status": "skipped", "rc": None}
            if not stop:
                func = STEPS.get(step.get("name"))
                try:
                    ok = func(module, step, record, module.params["timeout"]) if func else False
                    if not func:
                        record["detail"] = "unknown step %s" % step.get("name")
                except Exception as exc:  # pylint: disable=broad-except
                    ok, record["detail"] = False, str(exc)[:400]
                record["status"] = "ok" if ok else "failed"
                stop = not ok
            records.append(record)
    finally:
        for path in module.params["staged"]:
            if os.path.exists(path):
                os.remove(path)
    return records


def main():
    module = AnsibleModule(
        argument_spec=dict(
            operation=dict(type="str", required=True, choices=["probe", "apply"]),
            steps=dict(type="list", elements="dict", default=[]),
            secrets=dict(type="dict", default={}, no_log=True),
            staged=dict(type="list", elements="str", default=[]),
            timeout=dict(type="int", default=900),
        ),
        supports_check_mode=True,
    )
    if module.params["operation"] == "apply":
        if module.check_mode:
            module.fail_json(msg="apply is never sent in check mode")
        steps = apply(module)
        module.exit_json(changed=any(s["status"] == "ok" for s in steps), steps=steps, facts=probe(module))
    module.exit_json(changed=False, facts=probe(module))


if __name__ == "__main__":
    main()
