"""The mde_info action plugin with the executor replaced by recorded replies (the ansible.windows way)."""

from __future__ import annotations

from unittest.mock import MagicMock

import pytest
from ansible.errors import AnsibleActionFail
from ansible.playbook.task import Task
from ansible.plugins.loader import get_shell_plugin

from labmodel import profiles
from labmodel import windows as lab_windows
from ansible_collections.defender.endpoint.plugins.action.mde_info import ActionModule


def make_action(shell_family="powershell", args=None, check_mode=False, transport="ssh"):
    task = MagicMock(Task)
    task.args = args or {}
    task.check_mode = check_mode
    task.async_val = 0
    connection = MagicMock()
    connection.transport = transport
    connection._shell = get_shell_plugin(shell_type=shell_family)   # ansible-core's own shell plugins
    play_context = MagicMock()
    play_context.check_mode = check_mode
    action = ActionModule(task, connection, play_context, loader=None, templar=None, shared_loader_obj=None)
    return action


def test_one_probe_with_the_known_av_services():
    action = make_action(args={"extra_av_services": ["ContosoShield"]})
    facts = lab_windows.probe(profiles.initial_state("windows_server_2012_r2", {}), [])
    action._execute_module = MagicMock(return_value={"facts": facts})
    result = action.run(task_vars={})
    assert action._execute_module.call_count == 1
    kwargs = action._execute_module.call_args.kwargs
    assert kwargs["module_name"] == "defender.endpoint.mde_host"
    assert kwargs["module_args"]["operation"] == "probe"
    assert "ContosoShield" in kwargs["module_args"]["av_services"]
    assert "CSFalconService" in kwargs["module_args"]["av_services"]
    assert result["generation"] == "unified" and result["changed"] is False and result["ready"] is True


def test_linux_uses_the_python_executor_without_windows_arguments():
    action = make_action(shell_family="sh")
    action._execute_module = MagicMock(return_value={"facts": {"platform": "linux", "os": {
        "id": "debian", "version_id": "12", "architecture": "x86_64"}, "mdatp": {"installed": False}}})
    assert action.run(task_vars={})["generation"] == "linux"
    assert action._execute_module.call_args.kwargs["module_name"] == "defender.endpoint.mde_host_linux"
    assert action._execute_module.call_args.kwargs["module_args"] == {"operation": "probe"}


@pytest.mark.parametrize("transport, shell, executor", [
    ("winrm", "cmd", "defender.endpoint.mde_host"),          # ansible-core 2.21's winrm default
    ("winrm", "powershell", "defender.endpoint.mde_host"),   # 2.19 and 2.20's winrm default
    ("psrp", "powershell", "defender.endpoint.mde_host"),
    ("ssh", "powershell", "defender.endpoint.mde_host"),     # OpenSSH on Windows, PowerShell default shell
    ("ssh", "cmd", "defender.endpoint.mde_host"),            # OpenSSH on Windows, cmd default shell
    ("ssh", "sh", "defender.endpoint.mde_host_linux"),
])
def test_executor_is_chosen_from_the_connection_and_its_shell(transport, shell, executor):
    action = make_action(shell_family=shell, transport=transport)
    facts = (lab_windows.probe(profiles.initial_state("windows_server_2019", {}), [])
             if executor.endswith("mde_host") else
             {"platform": "linux", "os": {"id": "debian", "version_id": "12", "architecture": "x86_64"},
              "mdatp": {"installed": False}})
    action._execute_module = MagicMock(return_value={"facts": facts})
    action.run(task_vars={})
    assert action._execute_module.call_args.kwargs["module_name"] == executor


def test_executor_failure_is_one_clear_sentence():
    action = make_action()
    action._execute_module = MagicMock(return_value={"failed": True, "msg": "Access is denied"})
    with pytest.raises(AnsibleActionFail, match="the probe step on the host failed: Access is denied"):
        action.run(task_vars={})


def test_wrong_argument_type_is_refused():
    action = make_action(args={"extra_av_services": {"not": "a list"}})
    action._execute_module = MagicMock()
    with pytest.raises(AnsibleActionFail, match="extra_av_services must be a list, not a dict"):
        action.run(task_vars={})
    action._execute_module.assert_not_called()
