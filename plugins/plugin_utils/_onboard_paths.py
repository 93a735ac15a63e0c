# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mde_onboard's two paths, Windows and Linux, behind one shape: want, plan, view, secrets, verify.

Internal use only: the interface may change without notice.
"""

from __future__ import annotations

from ansible_collections.defender.endpoint.plugins.plugin_utils import _host_view, _inputs, _linux_plan, _linux_verify
from ansible_collections.defender.endpoint.plugins.plugin_utils import _windows_plan, _windows_verify
from ansible_collections.defender.endpoint.plugins.plugin_utils._packages import mdatp_json
from ansible_collections.defender.endpoint.plugins.plugin_utils._prerequisites import MMA_RETIRED


class WindowsPath:
    platform = "windows"

    def __init__(self, args: dict, package, installer: dict | None, certificate: dict | None = None):
        self.args, self.package, self.certificate = args, package, certificate
        self.want = _windows_plan.Want(
            state=args["state"], package=package, passive_mode=args["passive_mode"], installer=installer,
            workspace_id=args["workspace_id"], has_workspace_key=bool(args["workspace_key"]), cloud=args["cloud"],
            allow_org_change=args["allow_org_change"], uninstall=args["uninstall"],
            remove_mma_workspace=args["remove_mma_workspace"], network_protection=args["network_protection"],
            intermediate_ca=certificate, scep_cloud_protection=args["scep_cloud_protection"])

    def plan(self, facts: dict) -> list[dict]:
        if self.args["state"] == "present":
            return _windows_plan.plan_onboard(facts, self.want)
        return _windows_plan.plan_offboard(facts, self.want)

    @staticmethod
    def view(facts: dict, generation: str) -> dict:
        return _windows_verify.view_of(facts, generation)

    @staticmethod
    def probe_secrets() -> dict:
        return {}

    def probe_paths(self) -> list[str]:
        """Installers already on the host (installer_remote), looked at by the probe."""
        remote = (self.want.installer or {}).get("remote_path")
        return [remote] if remote else []

    def secrets(self) -> dict:
        secrets = {}
        if self.package is not None:
            secrets["onboarding_script" if self.package.kind == "onboarding" else "offboarding_script"] = \
                self.package.script
        if self.args["workspace_key"]:
            secrets["workspace_key"] = self.args["workspace_key"]
        return secrets

    def state(self, facts: dict, generation: str) -> dict:
        return {"force_passive_mode": (facts.get("mde") or {}).get("force_passive_mode"),
                "md4ws_version": self.view(facts, generation)["md4ws"] if facts else None}

    def verify(self, facts: dict, generation: str) -> tuple[list[str], list[str]]:
        args = self.args
        if args["state"] == "absent":
            return _windows_verify.verify_offboarded(facts, generation, args["uninstall"]), []
        passive = args["passive_mode"]
        if passive is None and facts.get("third_party_av"):
            passive = True
        if generation == "downlevel":
            passive = None
        problems, warnings = _windows_verify.verify_onboarded(
            facts, generation, self.package.org_id if self.package else None, passive, args["workspace_id"])
        problems += _windows_verify.verify_hardening(
            facts, generation, args["network_protection"], (self.certificate or {}).get("thumbprint"),
            args["scep_cloud_protection"])
        if generation == "downlevel":
            warnings.append(MMA_RETIRED)
        return problems, warnings


class LinuxPath:
    platform = "linux"

    def __init__(self, args: dict, package, _installer, _certificate=None):
        self.args, self.package = args, package
        self.want = _linux_plan.LinuxWant(
            state=args["state"], package=package, passive_mode=args["passive_mode"],
            allow_conflicts=args["allow_conflicts"], allow_org_change=args["allow_org_change"],
            repository=args["mdatp_repository"], channel=args["mdatp_channel"],
            repository_url=args["mdatp_repository_url"], version=args["mdatp_version"], proxy=args["proxy"],
            uninstall=args["uninstall"], health_timeout=args["health_timeout"])

    def plan(self, facts: dict) -> list[dict]:
        if self.args["state"] == "present":
            return _linux_plan.plan_onboard(facts, self.want)
        return _linux_plan.plan_offboard(facts, self.want)

    @staticmethod
    def view(facts: dict, _generation: str) -> dict:
        return _linux_verify.view_of(facts)

    @staticmethod
    def probe_paths() -> list[str]:
        return []

    def probe_secrets(self) -> dict:
        """What the probe compares on the host without returning it: a proxy URL that holds credentials."""
        return {"proxy": self.args["proxy"]} if _inputs.has_credentials(self.args["proxy"]) else {}

    def secrets(self) -> dict:
        secrets = self.probe_secrets()
        if self.package is None:
            return secrets
        key = "onboarding_json" if self.package.kind == "onboarding" else "offboarding_json"
        return dict(secrets, **{key: mdatp_json(self.package)})

    @staticmethod
    def state(facts: dict, _generation: str) -> dict:
        health = _host_view.mdatp_health(facts)
        return {"healthy": health.get("healthy"), "licensed": health.get("licensed"),
                "passive_mode_enabled": health.get("passive_mode_enabled"),
                "mdatp_version": health.get("app_version")}

    def verify(self, facts: dict, _generation: str) -> tuple[list[str], list[str]]:
        if self.args["state"] == "absent":
            return _linux_verify.verify_offboarded(facts, self.args["uninstall"]), []
        passive = self.args["passive_mode"]
        return _linux_verify.verify_onboarded(facts, self.package.org_id, passive)


def common_state(facts: dict) -> dict:
    return {"onboarded": _host_view.onboarded(facts), "org_id": _host_view.org_id(facts),
            "av_running_mode": _host_view.av_running_mode(facts)}
