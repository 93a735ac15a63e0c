"""Every lab fault (tests/lab/README.md): a clear failure or a handled retry, never a false "onboarded"; the host
no worse than before (its state.json compared); and once the fault clears (removed from mde_lab_faults), the
re-run converges, then changes nothing.

All the faults run side by side, one lab host each, in one ansible-playbook run per phase: a check-mode probe
(the host's fresh state), the faulted run, the run after the fault clears, and the unchanged run."""

from __future__ import annotations

import pathlib
import re

import package_factory
from conftest import ROOT, Lab
from windows_lab import inventory

PLAYBOOK = ROOT / "tests" / "integration" / "playbooks" / "module_per_host.yml"
LAB_README = ROOT / "tests" / "lab" / "README.md"
ORG = package_factory.FAKE_ORG
ONBOARDED_LINUX = {"mdatp": {"installed": True, "version": "101.24082.0004", "onboarded_org": ORG},
                   "repository": "prod"}
INSTALLED_LINUX = {"mdatp": {"installed": True, "version": "101.24082.0004", "onboarded_org": None},
                   "repository": "prod"}
UNIFIED_ONBOARDED = {"onboarded_org": ORG, "md4ws": {"installed": True, "version": "10.8760.1"}}


def _cases(p):
    """host: (profile, state, fault, module, args, outcome, phrase, state keys the faulted run must leave as they were).

    outcome: failed (with phrase in msg), unreachable, handled (verified despite the fault), restart (stops
    before onboarding and says why)."""
    unified = {"onboarding_package": [p["win_onboard_zip"]], "installer": p["md4ws_msi"]}
    modern = {"onboarding_package": [p["win_onboard_zip"]]}
    linux = {"onboarding_package": [p["linux_onboard_py"]]}
    offboard = {"state": "absent", "offboarding_package": [p["win_offboard_cmd"]], "uninstall": True}
    return {
        "unreachable": ("windows_server_2019", None, "unreachable", "mde_onboard", modern, "unreachable", None, None),
        "probe-error-win": ("windows_server_2019", None, "probe_error", "mde_onboard", modern, "failed",
                            "Invalid class", "all"),
        "probe-error-linux": ("debian_12", None, "probe_error", "mde_info", {}, "failed", "Input/output error", "all"),
        "not-ready": ("ubuntu_22_04", INSTALLED_LINUX, "mdatp_not_ready", "mde_onboard",
                      dict(linux, health_timeout=10), "failed", "gave up after 10 s", ["repository"]),
        "fanotify": ("rhel_9", None, "conflicting_fanotify", "mde_onboard", linux, "failed", "falcon-sensor", "all"),
        "repo-down": ("debian_12", None, "repo_unreachable", "mde_onboard", linux, "failed",
                      "Temporary failure in name resolution", "all"),
        "threat": ("debian_12", ONBOARDED_LINUX, "threat_not_reported", "mde_detection_test", {"timeout": 5},
                   "failed", "threat list", ["mdatp", "managed_config"]),
        "busy": ("windows_server_2012_r2", None, "msi_busy", "mde_onboard", unified, "handled", None, None),
        "busy-always": ("windows_server_2016", None, "msi_busy_always", "mde_onboard", unified, "failed", "1618",
                        ["md4ws", "onboarded_org"]),
        "needs-restart": ("windows_server_2012_r2", None, "msi_reboot_required", "mde_onboard", unified, "restart",
                          "must restart", ["onboarded_org"]),
        "mpasdesc": ("windows_server_2012_r2", None, "mpasdesc_310", "mde_onboard", unified, "failed", "mpasdesc",
                     ["md4ws", "onboarded_org"]),
        "sense-timeout": ("windows_server_2019", None, "sense_start_timeout", "mde_onboard", modern, "failed",
                          "exit code 15", ["onboarded_org", "md4ws"]),
        "dropped": ("windows_server_2016", None, "connection_drop_during_apply", "mde_onboard", unified,
                    "unreachable", None, ["onboarded_org"]),
        "tamper": ("windows_server_2016", UNIFIED_ONBOARDED, "tamper_protected", "mde_onboard", offboard, "failed",
                   "tamper protection", "all"),
        "hang": ("windows_server_2012_r2", None, "installer_hang", "mde_onboard", unified, "failed",
                 "did not finish within", ["md4ws", "onboarded_org"]),
        "unsigned": ("windows_server_2016", None, "installer_unsigned", "mde_onboard", unified, "failed",
                     "Authenticode signature", ["md4ws", "onboarded_org"]),
    }


def documented_faults() -> set[str]:
    section = LAB_README.read_text().split("## Faults", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z0-9_]+)` \|", section, re.MULTILINE))


def _documented_faults() -> set[str]:
    """The faults of this matrix: the agent's (arc_*) need the HTTPS fake ARM for the sign-in and have their own
    matrix in test_arc_connect_lab.py (failure, host no worse, converges once cleared)."""
    return {fault for fault in documented_faults() if not fault.startswith("arc_")}


def _hosts(cases, with_faults=True):
    return {name: {"profile": profile, "state": state, "faults": [fault] if with_faults else [],
                   "vars": {"mde_test_module": module, "mde_test_args": args}}
            for name, (profile, state, fault, module, args, _o, _p, _k) in cases.items()}


def _first_run_wrong(name, case, result, fresh, after):
    _profile, _state, fault, module, args, outcome, phrase, keep = case
    onboarding = module == "mde_onboard" and args.get("state") != "absent"
    msg = str(result.get("msg", ""))
    wrong = []
    if outcome == "unreachable" and not result.get("unreachable"):
        wrong.append(f"{name} ({fault}): expected unreachable, got {result}")
    if outcome == "failed" and not (result.get("failed") and phrase in msg):
        wrong.append(f"{name} ({fault}): expected a failure with '{phrase}', got failed={result.get('failed')} {msg!r}")
    if outcome == "handled" and not (result.get("verified") and not result.get("failed")):
        wrong.append(f"{name} ({fault}): expected a handled retry, got {msg!r}")
    if outcome == "restart" and not (result.get("reboot_required") and phrase in msg and not result.get("verified")):
        wrong.append(f"{name} ({fault}): expected a stop for the restart, got {msg!r}")
    if outcome != "handled" and (result.get("verified") or (onboarding and result.get("onboarded"))):
        wrong.append(f"{name} ({fault}): reported onboarded or verified under the fault")
    if "Traceback" in str(result):
        wrong.append(f"{name} ({fault}): traceback")
    if keep == "all" and fresh != after:
        wrong.append(f"{name} ({fault}): the host's state changed under a refusal")
    elif isinstance(keep, list):
        changed = [key for key in keep if (fresh or {}).get(key) != (after or {}).get(key)]
        if changed:
            wrong.append(f"{name} ({fault}): worse: {changed} changed from {[fresh.get(k) for k in changed]} "
                         f"to {[after.get(k) for k in changed]}")
    return wrong


def test_every_lab_fault_fails_clearly_leaves_the_host_no_worse_and_converges_once_cleared(packages, tmp_path):
    cases = _cases(packages)
    assert {case[2] for case in cases.values()} == _documented_faults(), "a documented fault has no case"
    lab = Lab(tmp_path / "state")

    def states():
        return {name: (lab.state(name) if lab.state_bytes(name) else None) for name in cases}

    faulted = inventory(tmp_path, _hosts(cases), "faulted.json")
    lab.run(PLAYBOOK, faulted, tmp_path / "probe", "--check", "-f", "8")
    fresh = states()
    _proc, first = lab.run(PLAYBOOK, faulted, tmp_path / "first", "-f", "8")
    after = states()
    wrong = []
    for name, case in cases.items():
        wrong += _first_run_wrong(name, case, first.get(name, {}), fresh[name], after[name])
        if first.get(name, {}).get("reboot_required"):
            lab.reboot(name)                                   # what a restart does; then the re-run goes on
    cleared = inventory(tmp_path, _hosts(cases, with_faults=False), "cleared.json")
    _proc, rerun = lab.run(PLAYBOOK, cleared, tmp_path / "rerun", "-f", "8")
    _proc, again = lab.run(PLAYBOOK, cleared, tmp_path / "again", "-f", "8")
    for name, case in cases.items():
        result, module = rerun.get(name, {}), case[3]
        converged = not result.get("failed") and not result.get("unreachable") and (
            module != "mde_onboard" or result.get("verified"))
        if not converged:
            wrong.append(f"{name} ({case[2]}): no convergence once cleared: {result.get('msg')!r}")
        if module == "mde_onboard" and again.get(name, {}).get("changed"):
            wrong.append(f"{name} ({case[2]}): the run after convergence changed something again")
    assert not wrong, f"{len(wrong)} wrong:\n" + "\n".join(wrong)


def test_the_matrix_names_only_faults_the_lab_has():
    assert pathlib.Path(LAB_README).exists()
    assert "unreachable" in _documented_faults() and "installer_unsigned" in _documented_faults()


def test_a_licensed_host_whose_health_wait_gave_up_waits_again_and_converges(packages, tmp_path):
    """Issue 13: after a health wait that gave up (licensed to the org, no definitions yet), the re-run plans the
    bounded wait again from what the host shows, instead of failing with nothing planned."""
    lab = Lab(tmp_path / "state")
    gave_up = {"mdatp": {"installed": True, "version": "101.24082.0004", "onboarded_org": ORG,
                         "definitions_ready": False}, "repository": "prod"}
    hosts = {"waited": {"profile": "ubuntu_22_04", "state": gave_up, "vars": {
        "mde_test_module": "mde_onboard", "mde_test_args": {"onboarding_package": [packages["linux_onboard_py"]]}}}}
    _proc, results = lab.run(PLAYBOOK, inventory(tmp_path, hosts), tmp_path / "out")
    result = results["waited"]
    assert result["verified"] and result["healthy"] and not result.get("failed"), result.get("msg")
    assert [s["name"] for s in result["steps"]] == ["wait_health"]
