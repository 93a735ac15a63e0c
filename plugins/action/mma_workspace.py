# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of defender.endpoint.mma_workspace: add or remove a workspace of the MMA (R-23, R-25, R-62)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.defender.endpoint.plugins.plugin_utils.core import host_view as _host_view
from ansible_collections.defender.endpoint.plugins.plugin_utils.core import inputs as _inputs
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.action import ASSESSMENT_SPEC, HostAction
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.prerequisites import MMA_RETIRED
from ansible_collections.defender.endpoint.plugins.plugin_utils.windows.settings import plan_workspace

_PROXY = ("proxy_url", "proxy_username", "proxy_password")


class ActionModule(HostAction):
    ARGUMENT_SPEC = {
        "workspace_id": {"type": "str", "required": True},
        "workspace_key": {"type": "str", "no_log": True},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "cloud": {"type": "str", "choices": ["commercial", "us_government"], "default": "commercial"},
        "proxy_url": {"type": "str"},
        "proxy_username": {"type": "str"},
        "proxy_password": {"type": "str", "no_log": True},
        "reconfigure": {"type": "bool", "default": False},
        **ASSESSMENT_SPEC,
    }
    MAY_BE_EMPTY = _PROXY
    CONSTRAINTS = {"required_by": {"proxy_username": "proxy_url", "proxy_password": "proxy_username"}}
    APPLY_TIMEOUT = 120

    def parse(self, run):
        args = run.args
        given = [name for name in ("workspace_key",) + _PROXY if args[name] is not None]
        if args["state"] == "absent" and given:
            raise AnsibleActionFail(f"{', '.join(given)} applies to state=present (adding the workspace); with "
                                    "state=absent it would do nothing: remove it.")
        try:
            args["workspace_id"] = _inputs.guid("workspace_id", args["workspace_id"])
            proxy_url = args["proxy_url"]   # host:port, as SetProxyInfo takes it; a scheme is tolerated
            _inputs.proxy_url("proxy_url", proxy_url if not proxy_url or "://" in proxy_url else f"http://{proxy_url}")
        except _inputs.InputError as exc:
            raise AnsibleActionFail(str(exc)) from None
        if not run.windows:
            raise AnsibleActionFail("mma_workspace manages the Windows Microsoft Monitoring Agent; this host is not "
                                    "Windows.")

    def plan(self, run):
        args = run.args
        proxy = {"url": args["proxy_url"], "username": args["proxy_username"]} if args["proxy_url"] else None
        steps = plan_workspace(run.facts, args["workspace_id"], args["state"] == "present",
                               bool(args["workspace_key"]), args["cloud"], proxy, args["reconfigure"])
        run.result["warnings"] = [MMA_RETIRED]
        return steps

    def secrets(self, run):
        return {"workspace_key": run.args["workspace_key"] or "", "proxy_password": run.args["proxy_password"] or ""}

    def view(self, run):
        return {"mma_workspaces": _host_view.mma_workspaces(run.facts)}

    def state(self, run):
        return {"workspaces": _host_view.mma_workspaces(run.facts)}

    def outcome(self, run):
        wanted, problems = run.args["state"] == "present", []
        if (run.args["workspace_id"].lower() in _host_view.mma_workspaces(run.facts)) != wanted:
            problems.append(f"workspace {run.args['workspace_id']} is {'not ' if wanted else 'still '}configured in "
                            "the MMA after the change; look at the Operations Manager event log on the host.")
        return problems, []
