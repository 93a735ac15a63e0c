# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which steps take a Linux host to the wanted mdatp state: pure functions of the probe's facts
(docs/linux-fleet.md).

Internal use only: the interface may change without notice.

Passive mode and the proxy are set in the managed configuration (``mdatp_managed.json``), which mdatp
reads at start and on change, which survives a reinstall, and which the probe can read back: so a
second run can tell that nothing needs to change.
"""

from __future__ import annotations

import dataclasses

from ansible_collections.defender.endpoint.plugins.plugin_utils.core import host_view as _host_view
from ansible_collections.defender.endpoint.plugins.plugin_utils.core import inputs as _inputs
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.generation import classify
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.errors import Refused
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.prerequisites import refuse_missing_prerequisites

MDATP_DIR = "/etc/opt/microsoft/mdatp"
ONBOARD_JSON = MDATP_DIR + "/mdatp_onboard.json"
OFFBOARD_JSON = MDATP_DIR + "/mdatp_offboard.json"
# RHEL rebuilds take Microsoft's rhel/<major> repository (as Microsoft's own installer does); other ids are
# used as they are, and mdatp_repository_url or mdatp_repository: false cover a distribution mapped wrongly.
_RHEL_LIKE = ("centos", "ol", "rocky", "almalinux")


@dataclasses.dataclass
class LinuxWant:
    state: str = "present"
    package: object = None            # PackageInfo (Linux onboarding or offboarding)
    passive_mode: bool | None = None
    allow_conflicts: bool = False
    allow_org_change: bool = False
    repository: bool = True
    channel: str = "prod"
    repository_url: str = "https://packages.microsoft.com"
    version: str | None = None
    proxy: str | None = None
    uninstall: bool = False
    health_timeout: int = 300


def repository_path(os_facts: dict) -> tuple[str, str]:
    """(distro, version) as they appear in Microsoft's repository configuration paths."""
    distro = str(os_facts.get("id") or "").lower()
    version = str(os_facts.get("version_id") or "")
    if distro == "ubuntu":
        return distro, version
    if distro in _RHEL_LIKE:
        distro = "rhel"
    if distro in ("sles", "sle_hpc", "opensuse-leap"):
        return "sles", version.split(".", maxsplit=1)[0]
    return distro, version.split(".", maxsplit=1)[0]


def _installed(facts: dict) -> bool:
    return bool((facts.get("mdatp") or {}).get("installed"))


def _passive(facts: dict, want: LinuxWant) -> bool | None:
    conflicts = facts.get("fanotify_conflicts") or []
    if conflicts and want.passive_mode is not True and not want.allow_conflicts:
        names = ", ".join(f"{c.get('comm')} (pid {c.get('pid')})" for c in conflicts)
        raise Refused(f"{names} holds a fanotify watch: another real-time anti-malware product runs, which mdatp "
                      "does not support beside its own real-time protection (R-14); set passive_mode: true, or "
                      "allow_conflicts: true if you accept the conflict. Nothing was changed.")
    return want.passive_mode


def _settings(facts: dict, want: LinuxWant, passive: bool | None) -> dict:
    settings: dict = {}
    if passive is not None:
        level = "passive" if passive else "real_time"
        if _host_view.managed_setting(facts, "antivirusEngine", "enforcementLevel") != level:
            settings["antivirusEngine"] = {"enforcementLevel": level}
    if want.proxy is not None:
        current = _host_view.managed_setting(facts, "cloudService", "proxy")   # credentials masked by the probe
        wanted = want.proxy or None
        if _inputs.has_credentials(wanted):
            # The probe compared the host's value with the wanted one (given to it as a secret); a file that
            # holds a credential but is still readable by all is rewritten 0600.
            same = (current == _inputs.mask_credentials(wanted) and facts.get("proxy_matches") is True
                    and facts.get("managed_config_mode") in (None, "0600"))
            if not same:
                settings["cloudService"] = {"proxy": _inputs.mask_credentials(wanted)}
                settings["secret_settings"] = {"cloudService": {"proxy": "proxy"}}
        elif current != wanted:
            settings["cloudService"] = {"proxy": wanted}
    return settings


def plan_onboard(facts: dict, want: LinuxWant) -> list[dict]:
    gen = classify(facts)
    if gen.generation != "linux":
        raise Refused(gen.unsupported_reason or f"{gen.os_label} is not a Linux host.")
    refuse_missing_prerequisites(facts, "linux")
    if want.package is None:
        raise Refused("set onboarding_package to the Linux onboarding package (.py, .json or the zip) (R-51).")
    passive = _passive(facts, want)
    current = _host_view.org_id(facts) if _host_view.mdatp_health(facts).get("licensed") else None
    if current and current != want.package.org_id and not want.allow_org_change:
        raise Refused(f"the host is licensed to org {current}, not to the package's org {want.package.org_id}; "
                      "set allow_org_change: true to move it.")
    manager = facts.get("package_manager")
    steps: list[dict] = []
    app_version = _host_view.mdatp_health(facts).get("app_version")
    install = not _installed(facts) or bool(want.version and app_version and app_version != want.version)
    if install and not manager:
        raise Refused("no supported package manager (apt-get, dnf, yum, zypper) was found on the host.")
    if install and want.repository and not (facts.get("repository") or {}).get("present"):
        # First, as the step that needs the network: if it fails, nothing else has been touched.
        distro, version = repository_path(facts.get("os") or {})
        steps.append({"name": "setup_repository", "package_manager": manager, "distro": distro,
                      "version": version, "channel": want.channel, "base_url": want.repository_url.rstrip("/")})
    settings = _settings(facts, want, passive)
    secret_settings = settings.pop("secret_settings", None)
    if settings:                       # before the install, so mdatp starts with them (passive before real time)
        step = {"name": "merge_managed_config", "settings": settings}
        if secret_settings:            # the value comes from the executor's no_log secrets; settings show it masked
            step["secret_settings"] = secret_settings
        steps.append(step)
    if install:
        steps.append({"name": "install_package", "package_manager": manager, "package": "mdatp",
                      "version": want.version or ""})
    file_org = ((facts.get("onboarding_json") or {}).get("org_id") or "").lower() or None
    onboarded = current == want.package.org_id
    if (facts.get("offboarding_json") or {}).get("present") and not onboarded:
        steps.append({"name": "remove_file", "path": OFFBOARD_JSON})
    if not onboarded and file_org != want.package.org_id:
        steps.append({"name": "write_secret_file", "path": ONBOARD_JSON, "secret": "onboarding_json", "mode": "0600"})
    healthy = bool(_host_view.mdatp_health(facts).get("healthy"))
    if not onboarded or not healthy or any(s["name"] == "install_package" for s in steps):
        # A bounded wait for the licence, the org and the first definitions (healthy), on the host: planned
        # from what the host shows, so a run after a wait that gave up waits again instead of failing.
        steps.append({"name": "wait_health", "until": "licensed", "org_id": want.package.org_id,
                      "timeout": want.health_timeout})
    return steps


def plan_offboard(facts: dict, want: LinuxWant) -> list[dict]:
    gen = classify(facts)
    if gen.generation != "linux":
        raise Refused(gen.unsupported_reason or f"{gen.os_label} is not a Linux host.")
    steps: list[dict] = []
    licensed = bool(_host_view.mdatp_health(facts).get("licensed"))
    if licensed:
        if want.package is None:
            raise Refused("the host is licensed: set offboarding_package to the Linux offboarding package (R-60).")
        current = _host_view.org_id(facts)
        if current not in {want.package.org_id, *want.package.org_ids}:
            raise Refused(f"the offboarding package is for org {want.package.org_id} but the host is licensed to "
                          f"org {current}; download the offboarding package of that org.")
        steps.append({"name": "write_secret_file", "path": OFFBOARD_JSON, "secret": "offboarding_json", "mode": "0600"})
        steps.append({"name": "wait_health", "until": "unlicensed", "timeout": want.health_timeout})
    if want.uninstall and _installed(facts):
        if not facts.get("package_manager"):
            raise Refused("no supported package manager (apt-get, dnf, yum, zypper) was found on the host.")
        steps.append({"name": "remove_package", "package_manager": facts["package_manager"], "package": "mdatp"})
    return steps


def plan_passive(facts: dict, enabled: bool, force: bool) -> list[dict]:
    conflicts = facts.get("fanotify_conflicts") or []
    if not enabled and conflicts and not force:
        names = ", ".join(str(c.get("comm")) for c in conflicts)
        raise Refused(f"{names} holds a fanotify watch: leaving passive mode would run two real-time engines "
                      "(R-14); remove that product first, or set force: true.")
    level = "passive" if enabled else "real_time"
    if _host_view.managed_setting(facts, "antivirusEngine", "enforcementLevel") == level:
        return []
    return [{"name": "merge_managed_config", "settings": {"antivirusEngine": {"enforcementLevel": level}}}]
