# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mde_onboard on Linux: the wanted state, its plan, the host's view, the secrets the steps need, the verification.
The Windows (windows/onboarding.py) class has the same shape.

Internal use only: the interface may change without notice.
"""

from __future__ import annotations

from ansible_collections.defender.endpoint.plugins.plugin_utils.core import host_view as _host_view
from ansible_collections.defender.endpoint.plugins.plugin_utils.core import inputs as _inputs
from ansible_collections.defender.endpoint.plugins.plugin_utils.linux import plan as _linux_plan
from ansible_collections.defender.endpoint.plugins.plugin_utils.linux import verify as _linux_verify
from ansible_collections.defender.endpoint.plugins.plugin_utils.packages.parse import mdatp_json


class LinuxOnboarding:
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
