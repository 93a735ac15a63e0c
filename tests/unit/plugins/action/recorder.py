# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs a host action plugin against the lab host model and records every executor call and reply, or replays the
recorded replies into the action (the ansible.windows way of testing action plugins).

``python tests/unit/plugins/action/recorder.py`` records again every scenario of ``SCENARIOS`` into
``replies/<name>.json`` (the lab models hosts from Microsoft's documentation; nothing here imports it into the
collection, and the lab imports no collection code).
"""

from __future__ import annotations

import importlib
import json
import os
import pathlib
import sys
import tempfile
from unittest.mock import MagicMock

from ansible.playbook.task import Task
from ansible.plugins.loader import get_shell_plugin

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[3]
REPLIES = HERE / "replies"
ORG = "00000000-1111-4222-8333-444444444444"
WORKSPACE = "11111111-2222-4333-8444-555555555555"
PACKAGES = ("WindowsDefenderATPOnboardingScript.cmd", "MicrosoftDefenderATPOnboardingLinuxServer.py")

# name: (action, lab profile, overrides, [(task args, check mode), ...] run one after the other on the same host)
SCENARIOS = {
    "onboard_windows_2016": ("mde_onboard", "windows_server_2016", {}, [
        ({"onboarding_package": ["{packages}/" + PACKAGES[0]], "installer": "{packages}/md4ws.msi"}, True),
        ({"onboarding_package": ["{packages}/" + PACKAGES[0]], "installer": "{packages}/md4ws.msi"}, False),
        ({"onboarding_package": ["{packages}/" + PACKAGES[0]], "installer": "{packages}/md4ws.msi"}, False)]),
    "onboard_linux_debian": ("mde_onboard", "debian_12", {}, [
        ({"onboarding_package": ["{packages}/" + PACKAGES[1]], "passive_mode": True}, False),
        ({"onboarding_package": ["{packages}/" + PACKAGES[1]], "passive_mode": True}, False)]),
    "passive_windows_2019": ("defender_passive_mode", "windows_server_2019", {}, [
        ({"enabled": True}, True), ({"enabled": True}, False), ({"enabled": True}, False)]),
    "passive_windows_refused": ("defender_passive_mode", "windows_server_2019",
                                {"third_party_av": ["CSFalconService"]}, [({"enabled": False}, False)]),
    "workspace_windows_7": ("mma_workspace", "windows_7_sp1", {"mma": {"installed": True}}, [
        ({"workspace_id": WORKSPACE, "workspace_key": "S0VZ"}, False),
        ({"workspace_id": WORKSPACE, "workspace_key": "S0VZ"}, False),
        ({"workspace_id": WORKSPACE, "state": "absent"}, False)]),
    "detection_windows_2019": ("mde_detection_test", "windows_server_2019", {"onboarded_org": ORG}, [
        ({}, True), ({}, False)]),
    "detection_windows_not_onboarded": ("mde_detection_test", "windows_server_2019", {}, [({}, False)]),
    "detection_linux_debian": ("mde_detection_test", "debian_12", {"mdatp": {
        "installed": True, "version": "101.24082.0004", "onboarded_org": ORG}}, [({}, False)]),
    "passive_linux_debian": ("defender_passive_mode", "debian_12", {"mdatp": {
        "installed": True, "version": "101.24082.0004", "onboarded_org": ORG}}, [({"enabled": True}, False)]),
}


def make_action(name: str, args: dict, check_mode: bool, shell: str, diff: bool = True):
    module = importlib.import_module(f"ansible_collections.defender.endpoint.plugins.action.{name}")
    task = MagicMock(Task)
    task.args, task.check_mode, task.diff, task.async_val, task.action = args, check_mode, diff, 0, name
    connection = MagicMock()
    connection.transport = "ssh"
    connection._shell = get_shell_plugin(shell_type=shell)
    play_context = MagicMock()
    play_context.check_mode = check_mode
    return module.ActionModule(task, connection, play_context, loader=None, templar=None, shared_loader_obj=None)


def _fill(args: dict, packages: str) -> dict:
    def fill(value):
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value.format(packages=packages) if isinstance(value, str) else value
    return {k: fill(v) for k, v in args.items()}


class LabHost:
    """One lab host answering the action's executor calls (``_execute_module``) and file copies (``put_file``), as
    the mde_lab connection would, with the lab state in ``MDE_LAB_STATE_DIR``."""

    def __init__(self, profile: str, overrides: dict, name: str = "lab-host"):
        sys.path.insert(0, str(ROOT / "tests" / "lab"))
        from labmodel import profiles   # pylint: disable=import-outside-toplevel
        self.profile, self.overrides, self.name, self.calls = profile, overrides, name, []
        self.windows = profiles.PROFILES[profile]["platform"] == "windows"
        executor = "mde_host" if self.windows else "mde_host_linux"
        self.source = (ROOT / "plugins" / "modules" / f"{executor}.{'ps1' if self.windows else 'py'}").read_text(
            encoding="utf-8")

    def attach(self, action, check_mode: bool):
        from labmodel import store   # pylint: disable=import-outside-toplevel

        def execute(module_name, module_args, task_vars):
            del task_vars
            from labmodel import host as lab_host, payload   # pylint: disable=import-outside-toplevel
            call = payload.ModuleCall(module_name, dict(module_args, _ansible_check_mode=check_mode), self.source,
                                      "powershell" if self.windows else "python")
            reply = lab_host.execute(self.name, self.profile, self.overrides, [], call)
            self.calls.append({"operation": module_args["operation"],
                               "steps": [s["name"] for s in module_args.get("steps") or []],
                               "reply": json.loads(json.dumps(reply))})
            return reply

        def put_file(local, remote):
            store.stage(self.name, remote, pathlib.Path(local).read_bytes())

        action._execute_module = execute
        action._connection.put_file = put_file
        return action

    def run(self, action_name: str, args: dict, check_mode: bool = False):
        """Run one task on this host; return (result or the exception raised, the calls it made)."""
        before = len(self.calls)
        action = self.attach(make_action(action_name, args, check_mode, "powershell" if self.windows else "sh"),
                             check_mode)
        try:
            result = action.run(task_vars={"inventory_hostname": self.name})
        except Exception as exc:   # pylint: disable=broad-except
            result = exc
        return result, self.calls[before:]


def record(name: str) -> dict:
    """Run the scenario on a fresh lab host; return what the action sent and the lab answered, per task."""
    sys.path.insert(0, str(ROOT / "tests" / "lab"))
    import package_factory   # pylint: disable=import-outside-toplevel
    action_name, profile, overrides, tasks = SCENARIOS[name]
    saved = os.environ.get("MDE_LAB_STATE_DIR")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MDE_LAB_STATE_DIR"] = os.path.join(tmp, "lab")
        packages = package_factory.write_set(os.path.join(tmp, "packages"))
        folder = os.path.dirname(packages["win_onboard_cmd"])
        with open(os.path.join(folder, "md4ws.msi"), "wb") as handle:
            handle.write(package_factory.installer("md4ws", "4.18.24090.11"))
        host, recorded = LabHost(profile, overrides), []
        for args, check_mode in tasks:
            result, calls = host.run(action_name, _fill(args, folder), check_mode)
            if isinstance(result, Exception):
                result = {"raised": type(result).__name__, "msg": str(result)}
            recorded.append({"args": args, "check_mode": check_mode, "calls": calls, "result_keys": sorted(result)})
    if saved is None:
        os.environ.pop("MDE_LAB_STATE_DIR", None)
    else:
        os.environ["MDE_LAB_STATE_DIR"] = saved
    return {"action": action_name, "profile": profile, "overrides": overrides, "tasks": recorded}


class Replay:
    """Stands in for ``_execute_module``: answers each call with the next recorded reply, checking that the action
    asks what it asked when the replies were recorded."""

    def __init__(self, calls: list[dict]):
        self.calls, self.sent = list(calls), []

    def __call__(self, module_name, module_args, task_vars):
        del task_vars
        assert self.calls, f"unexpected call {module_args['operation']} (the recording has no more)"
        expected = self.calls.pop(0)
        self.sent.append(dict(module_args, module_name=module_name))
        assert module_args["operation"] == expected["operation"]
        assert [s["name"] for s in module_args.get("steps") or []] == expected["steps"]
        return expected["reply"]


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "tests"))
    from ansible.plugins.loader import init_plugin_loader   # pylint: disable=import-outside-toplevel
    init_plugin_loader([str(ROOT / ".build" / "collections")])
    REPLIES.mkdir(exist_ok=True)
    for scenario in sys.argv[1:] or SCENARIOS:
        text = json.dumps(record(scenario), indent=1, sort_keys=True) + "\n"
        (REPLIES / f"{scenario}.json").write_text(text, encoding="utf-8")
        print(f"{scenario}: {len(text)} bytes")
