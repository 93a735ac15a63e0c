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
    for C(mdatp health), install the Azure Connected Machine agent and set its proxy, connect it to or
    disconnect it from Azure Arc - stops at the first failure, and returns each step's record and the
    facts read back.
  - The Arc access token goes to C(azcmagent) only in a C(--config) file (mode 0600, in a fresh 0700
    folder) that is removed when the command ends; it is never on a command line or in a record.
options:
  operation:
    description: What to do.
    type: str
    required: true
    choices: [probe, apply]
  steps:
    description:
      - With O(operation=apply), the steps, each a dict with C(name) (C(setup_repository), C(install_package),
        C(remove_package), C(merge_managed_config), C(write_secret_file), C(remove_file), C(wait_health),
        C(av_detection), C(run_edr_script), C(install_arc_agent), C(arc_set_proxy), C(arc_connect),
        C(arc_disconnect)) and its arguments. Steps name keys of O(secrets); they never hold a secret.
    type: list
    elements: dict
    default: []
  secrets:
    description:
      - The onboarding or offboarding json, a proxy URL that holds credentials (C(proxy)) and the Arc access
        token (C(arc_access_token)), by name.
      - With O(operation=probe), C(proxy) is the wanted proxy; the probe says in RV(facts.proxy_matches) whether the
        managed configuration holds it, without returning it.
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
  description:
    - With O(operation=apply), one record per step - name, status (ok, failed, skipped), rc, detail.
    - The C(azcmagent) steps add C(error_code) (the first C(AZCMnnnn) code of its output) and C(arm_code) (an
      Azure error code its output names - C(AuthorizationFailed), C(MissingSubscriptionRegistration),
      C(ResourceGroupNotFound), C(InvalidAuthenticationToken)), both C(null) when none; their detail is the last
      line of the output, the token never in it.
  returned: with operation=apply
  type: list
  elements: dict
  sample: [{"name": "install_package", "status": "ok", "rc": 0}]
facts:
  description:
    - The host's facts, read in one remote execution; the same keys after O(operation=apply), read back.
    - This is the written contract of the Linux facts; the simulated lab and the tests hold to it key for key.
  returned: success
  type: dict
  sample: {"platform": "linux", "os": {"id": "ubuntu", "version_id": "22.04"}}
  contains:
    platform:
      description: Always C(linux).
      returned: always
      type: str
    os:
      description: The distribution, from C(/etc/os-release), and the kernel.
      returned: always
      type: dict
      contains:
        id:
          description: C(ID), for example C(debian); C(null) when absent.
          type: str
        version_id:
          description: C(VERSION_ID), for example C(12); C(null) when absent.
          type: str
        pretty_name:
          description: C(PRETTY_NAME); C(null) when absent.
          type: str
        id_like:
          description: C(ID_LIKE); C(null) when absent.
          type: str
        kernel:
          description: The kernel release (C(uname -r)).
          type: str
        architecture:
          description: The machine (C(uname -m)), for example C(x86_64).
          type: str
    mdatp:
      description: The mdatp package and its health.
      returned: always
      type: dict
      contains:
        installed:
          description: The C(mdatp) command is on the path.
          type: bool
        health:
          description:
            - The output of C(mdatp health --output json); C(null) when mdatp is absent or does not answer.
            - The fields below are those the controller reads; further fields of mdatp's output pass through unchecked.
          type: dict
          contains:
            healthy:
              description: mdatp reports itself healthy (false until the first definitions arrive).
              type: bool
            health_issues:
              description: What keeps it from being healthy.
              type: list
              elements: str
            licensed:
              description: The host is onboarded.
              type: bool
            org_id:
              description: The org id it is onboarded to, C(unavailable) when not onboarded.
              type: str
            passive_mode_enabled:
              description: Antivirus passive mode is on.
              type: bool
            real_time_protection_enabled:
              description: Real-time protection is on.
              type: bool
            definitions_status:
              description: The state of the security intelligence, for example C(up_to_date).
              type: str
            app_version:
              description: The mdatp version.
              type: str
            conflicting_applications:
              description: Other products mdatp sees as conflicting.
              type: list
              elements: str
            edr_machine_id:
              description: The device id in Defender for Endpoint, empty before onboarding.
              type: str
        health_rc:
          description: The return code of C(mdatp health) (non-zero while the daemon is not ready); C(null) when
            mdatp is absent.
          type: int
        health_stderr:
          description: The start of C(mdatp health)'s error output; C(null) when empty.
          returned: when mdatp is installed
          type: str
    onboarding_json:
      description: C(/etc/opt/microsoft/mdatp/mdatp_onboard.json).
      returned: always
      type: dict
      contains:
        present:
          description: The file exists.
          type: bool
        org_id:
          description: The org id inside it (never the blob itself); C(null) when absent or unreadable.
          type: str
    offboarding_json:
      description: C(/etc/opt/microsoft/mdatp/mdatp_offboard.json).
      returned: always
      type: dict
      contains:
        present:
          description: The file exists.
          type: bool
    managed_config:
      description: The content of C(/etc/opt/microsoft/mdatp/managed/mdatp_managed.json); C(null) when absent or
        not JSON. Credentials in a URL (C(http://user:password@proxy:3128)) are shown as C(********).
      returned: always
      type: dict
    managed_config_mode:
      description: The octal mode of C(mdatp_managed.json) (C(0600) once it holds a credential); C(null) when absent.
      returned: always
      type: str
    proxy_matches:
      description: Whether C(cloudService.proxy) equals the proxy given in O(secrets) at probe; C(null) when none
        was given.
      returned: always
      type: bool
    fanotify_conflicts:
      description: Processes holding a fanotify mark, other than C(wdavdaemon) and C(fapolicyd).
      returned: always
      type: list
      elements: dict
      contains:
        pid:
          description: The process id.
          type: int
        comm:
          description: The process name.
          type: str
    package_manager:
      description: The first of C(apt-get), C(dnf), C(yum), C(zypper) on the path; C(null) when none.
      returned: always
      type: str
    repository:
      description: Microsoft's package repository.
      returned: always
      type: dict
      contains:
        present:
          description: The repository is configured.
          type: bool
    free_disk_mb:
      description: Free space under C(/opt) (or C(/)), in MiB.
      returned: always
      type: int
    staging_dir:
      description: Where the controller stages files.
      returned: always
      type: str
    arc:
      description:
        - The Azure Connected Machine agent (Azure Arc), from C(azcmagent show -j) (bounded to 30 s). Values the
          agent leaves empty are C(null); an agent that never connected is C(Disconnected) with its Azure fields
          C(null).
      returned: always
      type: dict
      contains:
        installed:
          description: C(/opt/azcmagent/bin/azcmagent) exists (else C(azcmagent) is on the path).
          type: bool
        agent_version:
          description: C(agentVersion); C(null) when not installed or not read.
          type: str
        status:
          description: C(status) - C(Connected), C(Disconnected) or C(Expired); C(null) when not installed or not read.
          type: str
        resource_name:
          description: C(resourceName), the machine's name in Azure; C(null) when not connected.
          type: str
        resource_group:
          description: C(resourceGroup); C(null) when not connected.
          type: str
        subscription_id:
          description: C(subscriptionId); C(null) when not connected.
          type: str
        tenant_id:
          description: C(tenantId); C(null) when not connected.
          type: str
        location:
          description: C(location), the Azure region; C(null) when not connected.
          type: str
        cloud:
          description: C(cloud), for example C(AzureCloud); C(null) when not connected.
          type: str
        resource_id:
          description: C(resourceId), the machine's Azure resource id; C(null) when not connected.
          type: str
        https_proxy:
          description: C(httpsProxy), credentials in it shown as C(********); C(null) when none.
          type: str
        private_link_scope:
          description: C(privateLinkScope); C(null) when none.
          type: str
        error_code:
          description: C(agentErrorCode), for example C(AZCM0026); C(null) when none.
          type: str
        error_details:
          description: The first 300 characters of C(agentErrorDetails); C(null) when none.
          type: str
        service:
          description: The agent's service (C(himdsd) on Linux, C(HIMDS) on Windows); C(null) when not installed or
            absent.
          type: dict
          contains:
            state:
              description: C(running), C(stopped) or the service manager's own state word; C(null) when it gives
                none.
              type: str
            start_type:
              description: C(auto) (enabled at boot), C(disabled) or the service manager's own word; C(null) when it
                gives none.
              type: str
        show_error:
          description: The first line of C(azcmagent show -j) when it failed or printed no JSON; C(null) otherwise.
          type: str
    azure_vm:
      description: The SMBIOS chassis asset tag (C(/sys/class/dmi/id/chassis_asset_tag)) is the one Azure gives its
        virtual machines; an Azure VM is not onboarded to Arc.
      returned: always
      type: bool
"""

import glob
import hashlib
import json
import os
import platform
import re
import shutil
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

MDATP_DIR = "/etc/opt/microsoft/mdatp"
ONBOARD_JSON = MDATP_DIR + "/mdatp_onboard.json"
OFFBOARD_JSON = MDATP_DIR + "/mdatp_offboard.json"
MANAGED_JSON = MDATP_DIR + "/managed/mdatp_managed.json"
FANOTIFY_IGNORED = ("wdavdaemon", "fapolicyd")
# Paths the probe reads and the steps write; module constants so that unit tests can point them elsewhere.
OS_RELEASE = "/etc/os-release"
PROC_ROOT = "/proc"
APT_SOURCES_DIR = "/etc/apt/sources.list.d"
APT_KEYRING = "/usr/share/keyrings/microsoft-prod.gpg"
APT_TRUSTED_KEY = "/etc/apt/trusted.gpg.d/microsoft-prod.gpg"
RPM_KEY = "/etc/pki/rpm-gpg/microsoft.asc"
YUM_REPOS_DIR = "/etc/yum.repos.d"
ZYPP_REPOS_DIR = "/etc/zypp/repos.d"
DETECTION_DIR = "/tmp"
# The Azure Connected Machine agent (Arc) and the SMBIOS chassis asset tag Azure gives its own virtual machines.
AZCMAGENT = "/opt/azcmagent/bin/azcmagent"
ARC_SERVICE = "himdsd"
ARC_CONFIG_DIR = None   # where the connect/disconnect config file's private folder is made; None: the system default
ARC_SHOW_TIMEOUT = 30
CHASSIS_ASSET_TAG = "/sys/class/dmi/id/chassis_asset_tag"
AZURE_ASSET_TAG = "7783-7084-3265-9085-8269-3286-77"
ARC_FIELDS = (("agent_version", "agentVersion"), ("status", "status"), ("resource_name", "resourceName"),
              ("resource_group", "resourceGroup"), ("subscription_id", "subscriptionId"), ("tenant_id", "tenantId"),
              ("location", "location"), ("cloud", "cloud"), ("resource_id", "resourceId"),
              ("https_proxy", "httpsProxy"), ("private_link_scope", "privateLinkScope"),
              ("error_code", "agentErrorCode"), ("error_details", "agentErrorDetails"))
ARM_CODES = ("AuthorizationFailed", "MissingSubscriptionRegistration", "ResourceGroupNotFound",
             "InvalidAuthenticationToken")
MASK = "********"
_AZCM_CODE = re.compile(r"AZCM\d{4}")
_SIGNED_BY = re.compile(r"signed-by=([^\s\]]+)")


def read_os_release(path=None):
    path = path or OS_RELEASE
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
    if rc == 0 and "{" in out:
        try:   # an unlicensed mdatp may print an "ATTENTION: ..." line before the document
            health = normalize_health(json.JSONDecoder().raw_decode(out[out.index("{"):])[0])
        except ValueError:
            health = None
    return {"installed": True, "health": mask_credentials(health), "health_rc": rc,
            "health_stderr": mask_credentials(err.strip()[:400]) or None}


def _snake(name):
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def normalize_health(document):
    """``mdatp health --output json`` as the facts name it: snake_case keys (the names ``--field`` takes).

    The product prints camelCase keys, settings as objects (``"passiveModeEnabled": {"value": true, ...}``) and
    states as typed objects (``"definitionsStatus": {"$type": "upToDate"}``); each becomes its plain value.
    """
    if not isinstance(document, dict):
        return None
    health = {}
    for key, value in document.items():
        if key.startswith("$"):
            continue
        if isinstance(value, dict) and "value" in value:
            value = value["value"]
        elif isinstance(value, dict) and "$type" in value:
            value = _snake(value["$type"])
        health[_snake(key)] = value
    return health


def managed_config(path=None):
    try:
        with open(path or MANAGED_JSON) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")


def mask_credentials(value):
    """The value with the user and password of every URL in it shown as ********; other values unchanged."""
    if isinstance(value, str):
        return _CREDENTIALS.sub(r"\1********@", value)
    if isinstance(value, dict):
        return {key: mask_credentials(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_credentials(item) for item in value]
    return value


def has_credentials(value):
    return isinstance(value, str) and bool(_CREDENTIALS.search(value))


def _file_mode(path):
    try:
        return "0%o" % (os.stat(path).st_mode & 0o777)
    except OSError:
        return None


def _proxy_matches(module):
    wanted = (module.params.get("secrets") or {}).get("proxy")
    if wanted is None:
        return None
    return ((managed_config() or {}).get("cloudService") or {}).get("proxy") == wanted


def fanotify_holders(proc=None):
    proc = proc or PROC_ROOT
    holders = []
    for fdinfo in glob.glob(os.path.join(proc, "[0-9]*", "fdinfo", "*")):
        try:
            with open(fdinfo) as handle:
                if "fanotify mnt_id" not in handle.read():
                    continue
            pid = os.path.basename(os.path.dirname(os.path.dirname(fdinfo)))
            with open(os.path.join(proc, pid, "comm")) as handle:
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


# ---- the Azure Connected Machine agent (Arc) and the Azure VM check ----

def azcmagent_path(module):
    """The agent's command: its installed path, else azcmagent on the path; None when it is not installed."""
    if os.path.isfile(AZCMAGENT):
        return AZCMAGENT
    return module.get_bin_path("azcmagent")


def _first_line(text):
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[0][:300] if lines else None


def _show_document(text):
    """The JSON object of ``azcmagent show -j`` (text before the first brace ignored), or None."""
    if "{" not in (text or ""):
        return None
    try:
        document = json.JSONDecoder().raw_decode(text[text.index("{"):])[0]
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def systemd_service(module, name):
    """A systemd unit as the Windows facts show a service - state (running, stopped, ...) and start_type (auto,
    disabled, ...) - from ``systemctl show``; None when the unit does not exist or systemctl is absent."""
    systemctl = module.get_bin_path("systemctl")
    if not systemctl:
        return None
    rc, out, _err = module.run_command([systemctl, "show", name, "--property=LoadState,ActiveState,UnitFileState"])
    values = dict(line.partition("=")[::2] for line in out.splitlines() if "=" in line)
    if rc != 0 or values.get("LoadState", "not-found") == "not-found":
        return None
    state = values.get("ActiveState") or None
    start = values.get("UnitFileState") or None
    return {"state": {"active": "running", "inactive": "stopped"}.get(state, state),
            "start_type": {"enabled": "auto"}.get(start, start)}


def arc_facts(module):
    """The agent, from ``azcmagent show -j`` (bounded): empty strings become None, proxy credentials are masked."""
    facts = dict({key: None for key, _name in ARC_FIELDS}, installed=False, service=None, show_error=None)
    binary = azcmagent_path(module)
    if not binary:
        return facts
    facts["installed"] = True
    facts["service"] = systemd_service(module, ARC_SERVICE)
    cmd = ["timeout", "--foreground", "-k", "5", str(ARC_SHOW_TIMEOUT), binary, "show", "-j"]
    rc, out, err = module.run_command(cmd)
    document = _show_document(out) if rc == 0 else None
    if document is None:
        if rc == 124:
            facts["show_error"] = "azcmagent show -j did not answer within %s s" % ARC_SHOW_TIMEOUT
        else:
            first = _first_line(out) or _first_line(err) or "azcmagent show -j failed with rc %s" % rc
            facts["show_error"] = mask_credentials(first)
        return facts
    for key, name in ARC_FIELDS:
        value = document.get(name)
        facts[key] = None if value in (None, "") else str(value)
    if facts["error_details"]:
        facts["error_details"] = facts["error_details"][:300]
    facts["https_proxy"] = mask_credentials(facts["https_proxy"])
    return facts


def azure_vm(path=None):
    """The SMBIOS chassis asset tag is the one Azure sets on its virtual machines."""
    return (_read(path or CHASSIS_ASSET_TAG) or b"").decode("ascii", "replace").strip() == AZURE_ASSET_TAG


def probe(module):
    free = shutil.disk_usage("/opt" if os.path.isdir("/opt") else "/").free // (1024 * 1024)
    return {
        "platform": "linux",
        "os": read_os_release(),
        "mdatp": mdatp_health(module),
        "onboarding_json": {"present": os.path.exists(ONBOARD_JSON),
                            "org_id": org_id_of(ONBOARD_JSON, "onboardingInfo")},
        "offboarding_json": {"present": os.path.exists(OFFBOARD_JSON)},
        "managed_config": mask_credentials(managed_config()),
        "managed_config_mode": _file_mode(MANAGED_JSON),
        "proxy_matches": _proxy_matches(module),
        "fanotify_conflicts": fanotify_holders(),
        "package_manager": package_manager(module),
        "repository": {"present": bool(repository_files())},
        "free_disk_mb": free,
        "staging_dir": "/var/tmp",
        "arc": arc_facts(module),
        "azure_vm": azure_vm(),
    }


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def _apt_list_usable(path):
    """A list file of ours: a deb line, and the key it trusts (its signed-by keyring, else ours) on disk."""
    text = (_read(path) or b"").decode("utf-8", "replace")
    if not any(line.strip().startswith("deb ") for line in text.splitlines()):
        return False
    match = _SIGNED_BY.search(text)
    keyring = match.group(1) if match else APT_TRUSTED_KEY
    return os.path.isfile(keyring) and os.path.getsize(keyring) > 0


def _rpm_repo_usable(path):
    """A repo file of ours: a baseurl line, and the signing key we imported still on disk."""
    text = (_read(path) or b"").decode("utf-8", "replace")
    return "baseurl" in text and os.path.isfile(RPM_KEY) and os.path.getsize(RPM_KEY) > 0


def repository_files():
    """Microsoft repository definitions that are usable: a half-written one (a list without its keyring) is not."""
    found = [p for p in glob.glob(os.path.join(APT_SOURCES_DIR, "microsoft-*.list")) if _apt_list_usable(p)]
    for folder in (YUM_REPOS_DIR, ZYPP_REPOS_DIR):
        found += [p for p in glob.glob(os.path.join(folder, "microsoft-*.repo")) if _rpm_repo_usable(p)]
    return found


# ---- apply: each step does one documented thing (mdatp on Linux, docs/linux-fleet.md) and reports what happened ----

def _download(url, timeout):
    """Fetch a small file over HTTPS, through the host's https_proxy when set."""
    from ansible.module_utils.urls import open_url
    return open_url(url, timeout=min(timeout, 120), validate_certs=True).read()


def _write(path, data, mode):
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    tmp = path + ".tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _run(module, record, args, timeout, env=None):
    # --foreground keeps the command in the session's foreground process group: under a terminal (ansible's
    # default ssh -tt) a background apt-get or dpkg is stopped by SIGTTOU as soon as it touches the terminal.
    # -k kills what still runs 10 s after the timeout; package managers are told no one will answer them.
    cmd = ["timeout", "--foreground", "-k", "10", str(timeout)] + args
    environ = dict({"DEBIAN_FRONTEND": "noninteractive"}, **(env or {}))
    rc, out, err = module.run_command(cmd, environ_update=environ)
    record["rc"] = rc
    if rc == 124:
        record["timed_out"] = True
        record["timeout"] = timeout
    if rc != 0:
        record["detail"] = (err or out).strip()[-400:]
    return rc == 0


class _Publisher:
    """Files a step puts in place, with what was there before, so that a failure can put it all back.

    Design (repository set-up): write the files into place, validate with the package manager's own refresh,
    and on any failure restore the previous bytes (or remove what was new).  Validating before publishing with
    a temporary apt configuration (-o Dir::Etc::sourcelist=<tmp>) was not chosen: the published list names its
    keyring by its final path (signed-by=), so the list would have to be rewritten for the test and the files
    apt validated would not be the files left on disk; dnf and zypper have no such switch at all.  Every
    download happens before the first write, and each write goes through a temporary name and os.replace, so
    a file on disk is always either the old one or the new one, never half of one.
    """

    def __init__(self):
        self.previous = []

    def write(self, path, data, mode):
        self.previous.append((path, _read(path)))
        _write(path, data, mode)

    def rollback(self):
        for path, data in reversed(self.previous):
            try:
                if data is None:
                    if os.path.exists(path):
                        os.remove(path)
                else:
                    _write(path, data, 0o644)
            except OSError:
                pass
        self.previous = []


def step_setup_repository(module, step, record, timeout):
    base, channel = step["base_url"], step["channel"]
    config = "%s/config/%s/%s/%s" % (base, step["distro"], step["version"], channel)
    manager = step["package_manager"]
    key = _download(base + "/keys/microsoft.asc", timeout)
    definition = _download(config + (".list" if manager == "apt-get" else ".repo"), timeout)
    published = _Publisher()
    ok = False
    try:
        if manager == "apt-get":
            ok = _setup_apt(module, record, published, key, definition, channel, timeout)
        else:
            ok = _setup_rpm(module, record, published, key, definition, channel, manager, timeout)
    finally:
        if not ok:
            published.rollback()
    return ok


def _setup_apt(module, record, published, key, listing, channel, timeout):
    rc, dearmored, err = module.run_command(["gpg", "--dearmor"], data=key, binary_data=True, encoding=None)
    if rc != 0:
        record["rc"] = rc
        text = err.decode("utf-8", "replace") if isinstance(err, bytes) else err
        record["detail"] = "gpg --dearmor failed: %s" % text.strip()[-300:]
        return False
    published.write(APT_KEYRING, dearmored, 0o644)
    if b"signed-by" not in listing:
        published.write(APT_TRUSTED_KEY, dearmored, 0o644)
    published.write(os.path.join(APT_SOURCES_DIR, "microsoft-%s.list" % channel), listing, 0o644)
    return _run(module, record, ["apt-get", "update"], timeout)


def _setup_rpm(module, record, published, key, repo, channel, manager, timeout):
    published.write(RPM_KEY, key, 0o644)
    if not _run(module, record, ["rpm", "--import", RPM_KEY], timeout):
        return False
    folder = ZYPP_REPOS_DIR if manager == "zypper" else YUM_REPOS_DIR
    published.write(os.path.join(folder, "microsoft-%s.repo" % channel), repo, 0o644)
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
    """Merge the settings; a setting named in ``secret_settings`` takes its value from O(secrets) instead (a proxy
    URL with credentials), and a file that then holds a credential is written 0600."""
    current = managed_config() or {}
    secrets = module.params.get("secrets") or {}
    for section, values in step["settings"].items():
        merged = dict(current.get(section) or {})
        for key, value in values.items():
            secret = ((step.get("secret_settings") or {}).get(section) or {}).get(key)
            if secret is not None:
                value = secrets[secret]
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        current[section] = merged
    text = json.dumps(current, indent=2, sort_keys=True)
    _write(MANAGED_JSON, text.encode(), 0o600 if has_credentials(text) else 0o644)
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


def eicar():
    """The standard EICAR antivirus test string, put together at run time so that no file of ours holds it."""
    parts = ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$", "EICAR-STANDARD-", "ANTIVIRUS-TEST-FILE!$H+H*")
    return "".join(parts).encode("ascii")


def _threat_paths(module, binary):
    rc, out, _err = module.run_command([binary, "threat", "list", "--output", "json"])
    if rc != 0:
        return []
    try:
        threats = json.loads(out)
    except ValueError:
        return []
    if isinstance(threats, dict):
        threats = threats.get("threats") or []
    return [str(t.get("path")) for t in threats if isinstance(t, dict)]


def step_av_detection(module, step, record, timeout):
    """Write the EICAR test file, poll mdatp threat list until it names that file (bounded), always delete it."""
    binary = module.get_bin_path("mdatp")
    if not binary:
        record["detail"] = "mdatp: command not found"
        return False
    limit, interval = int(step.get("timeout", 60)), float(step.get("interval", 2))
    fd, path = tempfile.mkstemp(prefix="defender.endpoint-eicar-", suffix=".com", dir=DETECTION_DIR)
    record.update(path=path, detected=False, timeout=limit)
    try:
        os.fchmod(fd, 0o644)            # on the open descriptor: real-time protection may take the file at close
        with os.fdopen(fd, "wb") as handle:
            handle.write(eicar())
        deadline = time.time() + limit
        while True:
            if path in _threat_paths(module, binary):
                record["detected"] = True
                break
            if time.time() >= deadline:
                record["detail"] = "mdatp threat list did not name %s within %s s" % (path, limit)
                break
            time.sleep(interval)
    finally:
        if os.path.exists(path):        # real-time protection may have quarantined it already
            os.remove(path)
    return True


def step_run_edr_script(module, step, record, timeout):
    """Run Microsoft's mde_linux_edr_diy script (staged by the controller) with a bounded time."""
    limit = int(step.get("timeout", 300))
    ok = _run(module, record, ["bash", step["path"]], limit)
    return ok


# ---- the Azure Connected Machine agent (Arc): install, proxy, connect, disconnect ----

def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def step_install_arc_agent(module, step, record, timeout):
    """The agent's package from the host's repositories, or the staged .deb/.rpm once its sha256 matches."""
    manager = step["package_manager"]
    if step.get("from_repository"):
        return step_install_package(module, {"package_manager": manager, "package": step.get("package") or "azcmagent"},
                                    record, timeout)
    path = os.path.abspath(step["path"])
    if not os.path.isfile(path):
        record["detail"] = "file not found: %s" % path
        return False
    if step.get("sha256") and _sha256(path) != step["sha256"].lower():
        record["detail"] = "the staged file does not match its sha256"
        return False
    if manager == "apt-get":
        return _run(module, record, ["apt-get", "install", "-y", path], timeout)
    if manager == "zypper":
        return _run(module, record, ["zypper", "--non-interactive", "install", path], timeout)
    return _run(module, record, [manager, "install", "-y", path], timeout)


def _arc_outcome(record, rc, text, secret=None):
    """rc, the first AZCM code, the ARM code and the last line of the agent's output; the secret never."""
    if secret:
        text = text.replace(secret, MASK)
    text = mask_credentials(text)
    record["rc"] = rc
    code = _AZCM_CODE.search(text)
    record["error_code"] = code.group(0) if code else None
    found = sorted((text.index(name), name) for name in ARM_CODES if name in text)
    record["arm_code"] = found[0][1] if found else None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines:
        record["detail"] = lines[-1][:300]
    return rc == 0


def _azcmagent(module, record, args, timeout, secret=None):
    binary = azcmagent_path(module)
    record.update(error_code=None, arm_code=None)
    if not binary:
        record["detail"] = "azcmagent is not installed on this host: run the install_arc_agent step first."
        return False
    rc, out, err = module.run_command(["timeout", "--foreground", "-k", "10", str(timeout), binary] + args)
    ok = _arc_outcome(record, rc, "\n".join(part for part in (out, err) if part), secret)
    if rc == 124:
        record.update(timed_out=True, timeout=timeout)
        record.setdefault("detail", "azcmagent %s did not finish within %s s" % (args[0], timeout))
    return ok


def _azcmagent_with_config(module, record, verb, config, token_key, timeout):
    """``azcmagent <verb> --config <file>``: the access token goes only into a 0600 file in a fresh 0700 folder,
    never on the command line, and the folder is removed whatever happens."""
    token = (module.params.get("secrets") or {}).get(token_key) if token_key else None
    if not token:
        record.update(error_code=None, arm_code=None)
        record["detail"] = ("no Arc access token was given (secrets key %s): pass the token obtained on the "
                            "controller." % (token_key or "none"))
        return False
    folder = tempfile.mkdtemp(prefix="defender.endpoint-arc-", dir=ARC_CONFIG_DIR)
    try:
        os.chmod(folder, 0o700)
        path = os.path.join(folder, "config.json")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(dict(config, **{"access-token": token}), handle)
        return _azcmagent(module, record, [verb, "--config", path], timeout, secret=token)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def step_arc_set_proxy(module, step, record, timeout):
    if step.get("proxy_url"):
        return _azcmagent(module, record, ["config", "set", "proxy.url", step["proxy_url"]], timeout)
    return _azcmagent(module, record, ["config", "clear", "proxy.url"], timeout)


def arc_connect_config(step):
    """The connect settings as the agent's --config file names them (without the token)."""
    config = {"subscription-id": step["subscription_id"], "resource-group": step["resource_group"],
              "location": step["location"], "tenant-id": step["tenant_id"], "cloud": step.get("cloud") or "AzureCloud"}
    optional = (("resource-name", "resource_name"), ("correlation-id", "correlation_id"),
                ("private-link-scope", "private_link_scope"))
    config.update({key: step[name] for key, name in optional if step.get(name)})
    if step.get("tags"):
        config["tags"] = ",".join("%s=%s" % (key, step["tags"][key]) for key in sorted(step["tags"]))
    return config


def step_arc_connect(module, step, record, timeout):
    return _azcmagent_with_config(module, record, "connect", arc_connect_config(step), step.get("token"), timeout)


def step_arc_disconnect(module, step, record, timeout):
    if step.get("force_local_only"):
        return _azcmagent(module, record, ["disconnect", "--force-local-only"], timeout)
    return _azcmagent_with_config(module, record, "disconnect", {}, step.get("token"), timeout)


def hide_secrets(module, text):
    """The text with every value of the no_log secrets in it replaced by ********."""
    for value in (module.params.get("secrets") or {}).values():
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, MASK)
    return text


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
                if record.get("detail"):
                    record["detail"] = hide_secrets(module, mask_credentials(record["detail"]))
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
