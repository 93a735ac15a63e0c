# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of defender.endpoint.mma_workspace: add or remove a workspace of the MMA (R-23, R-25, R-62)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.defender.endpoint.plugins.plugin_utils import _executor, _flow, _host_view, _inputs, _steps
from ansible_collections.defender.endpoint.plugins.plugin_utils._prerequisites import MMA_RETIRED
from ansible_collections.defender.endpoint.plugins.plugin_utils._settings_plan import plan_workspace
from ansible_collections.defender.endpoint.plugins.plugin_utils._windows_plan import Refused

ARGUMENT_SPEC = {
    "workspace_id": {"type": "str", "required": True},
    "workspace_key": {"type": "str", "no_log": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "cloud": {"type": "str", "choices": ["commercial", "us_government"], "default": "commercial"},
    "proxy_url": {"type": "str"},
    "proxy_username": {"type": "str"},
    "proxy_password": {"type": "str", "no_log": True},
    "reconfigure": {"type": "bool", "default": False},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        self._supports_async = False
        result = super().run(tmp, task_vars)
        del tmp
        args = _flow.arguments(self, ARGUMENT_SPEC, may_be_empty=("proxy_url", "proxy_username", "proxy_password"),
                               required_by={"proxy_username": "proxy_url", "proxy_password": "proxy_username"})
        if args["state"] == "absent":
            given = [name for name in ("workspace_key", "proxy_url", "proxy_username", "proxy_password")
                     if args[name] is not None]
            if given:
                raise AnsibleActionFail(f"{', '.join(given)} applies to state=present (adding the workspace); with "
                                        "state=absent it would do nothing: remove it.")
        try:
            args["workspace_id"] = _inputs.guid("workspace_id", args["workspace_id"])
            proxy_url = args["proxy_url"]   # host:port, as SetProxyInfo takes it; a scheme is tolerated
            _inputs.proxy_url("proxy_url", proxy_url if not proxy_url or "://" in proxy_url else f"http://{proxy_url}")
        except _inputs.InputError as exc:
            raise AnsibleActionFail(str(exc)) from None
        if not _executor.is_windows(self):
            raise AnsibleActionFail("mma_workspace manages the Windows Microsoft Monitoring Agent; this host is not Windows.")
        proxy = {"url": args["proxy_url"], "username": args["proxy_username"]} if args["proxy_url"] else None
        facts = _executor.probe(self, task_vars or {})
        try:
            steps = plan_workspace(facts, args["workspace_id"], args["state"] == "present",
                                   bool(args["workspace_key"]), args["cloud"], proxy, args["reconfigure"])
        except Refused as exc:
            raise AnsibleActionFail(str(exc)) from None
        result["warnings"] = [MMA_RETIRED]
        if steps and self._task.diff:
            after = _steps.expected_view({"mma_workspaces": _host_view.mma_workspaces(facts)}, steps, None)
            result["diff"] = {"before": {"mma_workspaces": _host_view.mma_workspaces(facts)}, "after": after,
                              "prepared": "\n".join(_steps.describe(s) for s in steps)}
        if steps and self._task.check_mode:
            return dict(result, changed=True, steps=_flow.public_steps(steps, "planned"), workspaces=_host_view.mma_workspaces(facts))
        if steps:
            secrets = {"workspace_key": args["workspace_key"] or "", "proxy_password": args["proxy_password"] or ""}
            applied = _flow.apply(self, task_vars or {}, facts, steps, secrets, 120)
            result["steps"] = _flow.shown_records(applied.records)
            if applied.failed:
                return dict(result, failed=True, changed=False, failed_step=applied.failed["name"],
                            msg=_steps.failure_message(applied.failed), workspaces=_host_view.mma_workspaces(applied.facts))
            facts = applied.facts
        workspaces = _host_view.mma_workspaces(facts)
        result.update(changed=bool(steps), workspaces=workspaces)
        wanted = args["state"] == "present"
        if (args["workspace_id"].lower() in workspaces) != wanted:
            result.update(failed=True, msg=f"workspace {args['workspace_id']} is {'not ' if wanted else 'still '}"
                                           "configured in the MMA after the change; look at the Operations Manager "
                                           "event log on the host.")
        return result
