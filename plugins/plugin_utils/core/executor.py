# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the host-side executor (mde_host on Windows, mde_host_linux on Linux) from an action plugin.

Internal use only: the interface may change without notice.

One call is one remote execution: the round-trip budget (one probe, at most one apply per host) is
counted in these calls.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

WINDOWS_EXECUTOR = "defender.endpoint.mde_host"
LINUX_EXECUTOR = "defender.endpoint.mde_host_linux"

# Service names of common third-party anti-malware products, looked for on Windows hosts.
KNOWN_AV_SERVICES = (
    "CSFalconService", "SentinelAgent", "McShield", "mfemms", "ekrn", "SAVService", "Sophos MCS Agent",
    "ccSvcHst", "SepMasterService", "TmCCSF", "ntrtscan", "CylanceSvc", "CbDefense", "WRSVC", "AVP",
    "klnagent", "bdredline", "EPSecurityService", "PanGPS", "CynetEPS", "Traps", "cyserver",
)


# Connections that only ever reach Windows, and the shell families ansible-core uses for Windows hosts.
WINDOWS_TRANSPORTS = frozenset(("winrm", "psrp", "ansible.builtin.winrm", "ansible.builtin.psrp"))
WINDOWS_SHELL_FAMILIES = frozenset(("powershell", "cmd"))


def is_windows(action) -> bool:
    """Whether the host runs Windows, decided from the connection and its shell, never by asking the host.

    ``winrm`` and ``psrp`` reach Windows only; over ``ssh`` (or any other connection) the shell decides.
    ansible-core 2.21 gives ``winrm`` the ``cmd`` shell by default (2.19 and 2.20: ``powershell``), and
    both are Windows shells: the Windows executor is a PowerShell module, so no interpreter discovery
    round trip is made on such a host.
    """
    connection = action._connection
    shell = connection._shell
    if getattr(connection, "transport", "") in WINDOWS_TRANSPORTS:
        return True
    return bool(getattr(shell, "_IS_WINDOWS", False)) or getattr(shell, "SHELL_FAMILY", "") in WINDOWS_SHELL_FAMILIES


def _av_services(extra_av_services) -> list[str]:
    return sorted(set(KNOWN_AV_SERVICES) | set(extra_av_services or ()))


def run(action, task_vars: dict, operation: str, **args) -> dict:
    """Run one executor operation; return its result, or raise AnsibleActionFail with the host's message."""
    module = WINDOWS_EXECUTOR if is_windows(action) else LINUX_EXECUTOR
    module_args = dict(args, operation=operation)
    result = action._execute_module(module_name=module, module_args=module_args, task_vars=task_vars)
    if result.get("failed"):
        raise AnsibleActionFail(f"the {operation} step on the host failed: {result.get('msg', 'no message')}")
    return result


def probe(action, task_vars: dict, extra_av_services=(), secrets=None, paths=()) -> dict:
    """One remote execution that returns the host's facts (third-party AV services are looked up on Windows only).

    ``secrets`` (Linux: a proxy URL with credentials) go in the executor's no_log option, for the probe to compare
    with what the host holds; the facts never carry them.  ``paths`` (Windows: installers already on the host)
    are looked at by the probe (``host_paths``: whether each is a file, and its format).
    """
    if not is_windows(action):
        return run(action, task_vars, "probe", **({"secrets": secrets} if secrets else {}))["facts"]
    extra = {"paths": list(paths)} if paths else {}
    return run(action, task_vars, "probe", av_services=_av_services(extra_av_services), **extra)["facts"]


def apply(action, task_vars: dict, steps: list, secrets: dict, staged: list, timeout: int,
          extra_av_services=()) -> dict:
    """One remote execution that runs the steps in order, stops at the first failure, and reads the facts back.

    ``secrets`` travel in the executor's no_log option; steps only name its keys.
    """
    args = {"steps": steps, "secrets": secrets, "staged": staged, "timeout": timeout}
    if is_windows(action):
        args["av_services"] = _av_services(extra_av_services)
    return run(action, task_vars, "apply", **args)
