# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of defender.endpoint.arc_connect: the Azure Connected Machine agent of one host (R-72).

probe (``azcmagent show -j`` in the executors' facts) -> plan (plugin_utils/arc/plan.py) -> diff / check mode ->
an ARM access token obtained here, on the controller, only when a step needs it -> apply (the token in the
executor's no_log secrets, written by the executor to a file it deletes) -> verify from the facts read back.
"""

from __future__ import annotations

import importlib.util
import re

from ansible.errors import AnsibleActionFail

from ansible_collections.defender.endpoint.plugins.module_utils import azure_auth
from ansible_collections.defender.endpoint.plugins.module_utils._arc import ArcError, check_group, check_name
from ansible_collections.defender.endpoint.plugins.plugin_utils.arc import plan as _plan
from ansible_collections.defender.endpoint.plugins.plugin_utils.core import files as _files
from ansible_collections.defender.endpoint.plugins.plugin_utils.core import inputs as _inputs
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.action import ASSESSMENT_SPEC, HostAction

_LOCATION = re.compile(r"^[a-z][a-z0-9]{2,40}$")
_SCOPE = re.compile(r"^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[^/]+/providers/"
                    r"Microsoft\.HybridCompute/privateLinkScopes/[^/]+$", re.IGNORECASE)
_PRESENT_ONLY = ("resource_group", "location", "resource_name", "tags", "proxy", "private_link_scope",
                 "correlation_id", "installer")
_MAGIC = {b"!<arch>\n": "deb", b"\xed\xab\xee\xdb": "rpm"}
_AUTH_OPTIONS = tuple(azure_auth.AZURE_AUTH_ARGSPEC)


class _SignInError(Exception):
    pass


class ActionModule(HostAction):
    ARGUMENT_SPEC = {
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "resource_group": {"type": "str"},
        "location": {"type": "str"},
        "resource_name": {"type": "str"},
        "tenant_id": {"type": "str"},
        "tags": {"type": "dict"},
        "proxy": {"type": "str"},
        "private_link_scope": {"type": "str"},
        "correlation_id": {"type": "str"},
        "allow_move": {"type": "bool", "default": False},
        "force_local_only": {"type": "bool", "default": False},
        "installer": {"type": "path"},
        "step_timeout": {"type": "int", "default": 600},
        **azure_auth.AZURE_AUTH_ARGSPEC,
        **ASSESSMENT_SPEC,
    }
    MAY_BE_EMPTY = ("proxy",)
    CONSTRAINTS = {"required_if": [("state", "present", ("resource_group", "location"))]}

    def parse(self, run):
        args = run.args
        try:
            self._check(args)
            run.context["wanted"] = self._wanted(args, run.windows)
        except (_inputs.InputError, ArcError, azure_auth.AzureAuthError) as exc:
            raise AnsibleActionFail(str(exc).rstrip(".") + ".") from None

    @staticmethod
    def _check(args):
        if args["state"] == "absent":
            given = [name for name in _PRESENT_ONLY if args[name] not in (None, {})]
            if args["allow_move"]:
                given.append("allow_move")
            if given:
                raise _inputs.InputError(f"{', '.join(given)} applies to state=present (connecting); with "
                                         "state=absent it would do nothing: remove it")
        elif args["force_local_only"]:
            raise _inputs.InputError("force_local_only applies to state=absent (a disconnect without Azure); with "
                                     "state=present it would do nothing: remove it")
        if args["step_timeout"] < 30:
            raise _inputs.InputError("step_timeout is seconds for one agent command and must be at least 30")
        for name in ("tenant_id", "correlation_id"):
            _inputs.guid(name, args[name])
        if args["resource_group"] is not None:
            check_group(args["resource_group"])
        if args["resource_name"] is not None:
            check_name(args["resource_name"])
        if args["location"] is not None and not _LOCATION.match(args["location"].lower()):
            raise _inputs.InputError(f"location must be an Azure region name like westeurope, got "
                                     f"{args['location']!r}")
        for key, value in (args["tags"] or {}).items():
            if not isinstance(value, str) or "," in f"{key}{value}" or "=" in key or not key.strip():
                raise _inputs.InputError(f"tag {key!r} cannot be given to the agent: tags are text, keys and values "
                                         "without commas, keys without '=' (azcmagent takes them as K=V,K=V)")
        if args["proxy"]:
            _inputs.proxy_url("proxy", args["proxy"])
            if _inputs.has_credentials(args["proxy"]):
                raise _inputs.InputError("proxy holds a user or password; the Connected Machine agent takes a proxy "
                                         "URL without credentials (http://proxy.example:3128)")
        if args["private_link_scope"] is not None and not _SCOPE.match(args["private_link_scope"]):
            raise _inputs.InputError("private_link_scope must be the ARM id of an Azure Arc Private Link scope, "
                                     "/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.HybridCompute/"
                                     "privateLinkScopes/<name>")

    def _wanted(self, args, windows) -> tuple[_plan.Wanted, dict | None]:
        """The wanted state, and the resolved sign-in (None for a local-only disconnect); no request is sent."""
        auth = None
        if not (args["state"] == "absent" and args["force_local_only"]):
            auth = azure_auth.resolve({k: args[k] for k in _AUTH_OPTIONS})
            _inputs.guid("subscription_id", auth["subscription_id"])
        tenant = args["tenant_id"] or (auth or {}).get("tenant")
        if args["state"] == "present" and not tenant:
            raise _inputs.InputError("tenant_id is needed: the sign-in does not name a tenant (Azure CLI or managed "
                                     "identity); give tenant_id, the Microsoft Entra tenant of the subscription")
        installer = None
        if args["installer"]:
            installer = _files.local_file(args["installer"], "installer", "give the agent's installer file",
                                          "; give the path of the Connected Machine agent's installer on the "
                                          "controller")
            self._check_installer(installer, windows)
        return _plan.Wanted(
            state=args["state"], subscription_id=(auth or {}).get("subscription_id"),
            resource_group=args["resource_group"], location=(args["location"] or "").lower() or None,
            tenant_id=_inputs.guid("tenant_id", tenant), resource_name=args["resource_name"],
            cloud=(auth or {}).get("cloud_environment") or "AzureCloud", tags=args["tags"] or None,
            proxy=args["proxy"], private_link_scope=args["private_link_scope"],
            correlation_id=_inputs.guid("correlation_id", args["correlation_id"]), allow_move=args["allow_move"],
            force_local_only=args["force_local_only"], installer=installer), auth

    @staticmethod
    def _check_installer(installer, windows):
        with open(installer["local_path"], "rb") as handle:
            head = handle.read(8)
        found = installer["format"] or next((kind for magic, kind in _MAGIC.items() if head.startswith(magic)), None)
        if windows and found != "msi":
            raise _inputs.InputError(f"installer {installer['local_path']} is not a Windows Installer package: give "
                                     "AzureConnectedMachineAgent.msi")
        if not windows and found not in ("deb", "rpm"):
            raise _inputs.InputError(f"installer {installer['local_path']} is not a .deb or .rpm package: give the "
                                     "azcmagent package of the host's distribution")

    # The wanted state and its auth travel together in run.context.
    def plan(self, run):
        wanted, _auth = run.context["wanted"]
        return _plan.plan(run.facts, wanted, run.windows)

    def timeout(self, run):
        return run.args["step_timeout"]

    def secrets(self, run):
        if not _plan.needs_token(run.steps):
            return {}
        _wanted, auth = run.context["wanted"]
        if importlib.util.find_spec("azure.identity") is None:
            raise AnsibleActionFail("arc_connect signs in to Azure on the controller and azure-identity is missing "
                                    "from the Python that runs ansible-playbook: install the collection's "
                                    "requirements.txt there; nothing was changed.")
        try:
            token = azure_auth.access_token(auth, _SignInError)
        except _SignInError as exc:
            raise AnsibleActionFail(f"{str(exc).rstrip('.')}; nothing was changed on the host.") from None
        run.context["token"] = token
        return {_plan.TOKEN_KEY: token}

    def view(self, run):
        arc = _plan.agent(run.facts)
        return {"arc": {k: arc[k] for k in ("installed", "status", "subscription_id", "resource_group",
                                            "resource_name", "location", "tenant_id", "https_proxy")}}

    def state(self, run):
        arc = _plan.agent(run.facts)
        shown = {k: arc[k] for k in ("installed", "status", "resource_id", "resource_name", "resource_group",
                                     "subscription_id", "tenant_id", "location", "cloud", "agent_version",
                                     "https_proxy", "error_code")}
        resource_id = arc["resource_id"]
        if not resource_id and _plan.configured(arc) and arc["resource_name"]:
            resource_id = (f"/subscriptions/{arc['subscription_id']}/resourceGroups/{arc['resource_group']}"
                           f"/providers/Microsoft.HybridCompute/machines/{arc['resource_name']}")
        return {"arc": shown, "azure_vm": bool(run.facts.get("azure_vm")), "resource_id": resource_id}

    def outcome(self, run):
        wanted, _auth = run.context["wanted"]
        return _plan.outcome(run.facts, wanted), []

    def records(self, run):
        token = run.context.get("token")
        shown = super().records(run)
        if token:
            for record in shown:
                for key, value in record.items():
                    if isinstance(value, str) and token in value:
                        record[key] = value.replace(token, "********")
        return shown

    def failed(self, run):
        result = super().failed(run)
        token = run.context.get("token")
        if token and token in result.get("msg", ""):
            result["msg"] = result["msg"].replace(token, "********")
        return result
