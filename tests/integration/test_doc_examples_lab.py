"""The EXAMPLES of each Windows module run against a lab host of the kind they are written for: file paths
are replaced by the generated packages, variables by the lab's workspace (issue: Windows onboarding)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from conftest import ROOT, Lab
from windows_lab import inventory

import package_factory

# Which lab host each example (by its name) runs on, and the state that host starts from.
HOSTS = {
    "Onboard a Server 2019/2022/2025 host": ("windows_server_2022", {}),
    "Onboard a Server 2012 R2 / 2016 host in passive mode (a third-party antivirus stays active)":
        ("windows_server_2016", {"third_party_av": ["CSFalconService"]}),
    "Onboard a Windows 7 SP1 / 2008 R2 SP1 host through the MMA": ("windows_7_sp1", {}),
    "Migrate a 2016 host from the MMA-based sensor to the unified solution (R-70)": ("windows_server_2016", {
        "mma": {"installed": True, "version": "10.20.18067.0", "workspaces": [{"id": package_factory.MDE_WORKSPACE_ID}]},
        "onboarded_org": package_factory.FAKE_ORG}),
    "Onboard Linux servers in passive mode through a proxy": ("rhel_9", {}),
    "Offboard and remove the unified solution": ("windows_server_2012_r2", {
        "onboarded_org": package_factory.FAKE_ORG, "md4ws": {"installed": True, "version": "10.8760.1"}}),
    "Passive mode beside a third-party antivirus, before onboarding (R-14, R-30)": ("windows_server_2019", {}),
    "Back to active mode once the other product is gone": ("windows_server_2019", {"passive_mode": 1}),
    "Make sure the MMA reports to the Defender for Endpoint workspace": ("windows_8_1", {
        "mma": {"installed": True, "version": "10.20.18069.0", "workspaces": []}}),
    "Remove the MDE workspace after a migration to the unified solution (R-62, R-70)": ("windows_server_2016", {
        "mma": {"installed": True, "version": "10.20.18069.0", "workspaces": [{"id": package_factory.MDE_WORKSPACE_ID}]}}),
}


def _examples(module: str) -> list[dict]:
    source = (ROOT / "plugins" / "modules" / f"{module}.py").read_text()
    return yaml.safe_load(re.search(r'EXAMPLES = r"""(.*?)"""', source, re.S).group(1))


def _local(value, packages):
    if not isinstance(value, str) or not value.startswith("files/"):
        return value
    name = value[len("files/"):]
    if name.startswith("WindowsDefenderATPOffboardingScript_valid_until_"):
        return packages["win_offboard_cmd"]
    return {"WindowsDefenderATPOnboardingPackage.zip": packages["win_onboard_zip"], "md4ws.msi": packages["md4ws_msi"],
            "MMASetup-AMD64.exe": packages["mma_setup"],
            "MicrosoftDefenderATPOnboardingLinuxServer.py": packages["linux_onboard_py"]}[name]


@pytest.mark.parametrize("module", ["mde_onboard", "defender_passive_mode", "mma_workspace"])
def test_module_examples_run_on_the_lab(module, packages, tmp_path):
    tasks, hosts = [], {}
    for example in _examples(module):
        fqcn = next(k for k in example if k.startswith("defender.endpoint.") or k.startswith("ansible.windows."))
        if fqcn.startswith("ansible.windows."):
            continue                                          # restarts are not modeled by the lab
        host = f"h{len(hosts)}"
        profile, state = HOSTS[example["name"]]
        hosts[host] = {"profile": profile, "state": state}
        args = {k: _local(v, packages) for k, v in (example[fqcn] or {}).items()}
        tasks.append({"name": example["name"], fqcn: args, "when": f"inventory_hostname == '{host}'",
                      "register": f"result_{host}"})
    assert tasks, f"{module} has no example"
    play = [{"name": f"examples of {module}", "hosts": "all", "gather_facts": False,
             "vars": {"mde_workspace_id": package_factory.MDE_WORKSPACE_ID,
                      "mde_workspace_key": package_factory.FAKE_WORKSPACE_KEY},
             "tasks": tasks}]
    play[0]["tasks"].append({
        "name": "save each example's registered result", "delegate_to": "localhost",
        "ansible.builtin.copy": {"content": "{{ lookup('ansible.builtin.vars', 'result_' ~ inventory_hostname) | to_json }}",
                                 "dest": "{{ lookup('ansible.builtin.env', 'MDE_TEST_OUT') }}/{{ inventory_hostname }}.json",
                                 "mode": "0600"}})
    playbook = tmp_path / "examples.yml"
    playbook.write_text(json.dumps(play))
    lab = Lab(tmp_path / "state")
    proc, results = lab.run(playbook, inventory(tmp_path, hosts), tmp_path / "out")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert set(results) == set(hosts)
    names = {f"h{i}": t["name"] for i, t in enumerate(tasks)}
    for host, result in results.items():
        # Each example runs on a host of the kind it is written for, from a state it has work to do on.
        assert not result.get("failed") and result.get("changed") is True, (names[host], result.get("msg"))
        assert not result.get("skipped"), names[host]
