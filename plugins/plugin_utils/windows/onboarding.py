# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mde_onboard on Windows: the wanted state, its plan, the host's view, the secrets the steps need, the verification.
The Linux (linux/onboarding.py) class has the same shape.

Internal use only: the interface may change without notice.
"""

from __future__ import annotations

from ansible_collections.defender.endpoint.plugins.plugin_utils.core.prerequisites import MMA_RETIRED
from ansible_collections.defender.endpoint.plugins.plugin_utils.windows import plan as _windows_plan
from ansible_collections.defender.endpoint.plugins.plugin_utils.windows import verify as _windows_verify


class WindowsOnboarding:
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
        passive = None if generation == "downlevel" else _windows_plan.resolve_passive(facts, args["passive_mode"])
        problems, warnings = _windows_verify.verify_onboarded(
            facts, generation, self.package.org_id if self.package else None, passive, args["workspace_id"])
        problems += _windows_verify.verify_hardening(
            facts, generation, args["network_protection"], (self.certificate or {}).get("thumbprint"),
            args["scep_cloud_protection"])
        if generation == "downlevel":
            warnings.append(MMA_RETIRED)
        return problems, warnings
