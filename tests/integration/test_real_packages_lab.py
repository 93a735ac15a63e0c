"""Every real-world package of ../shared/real-packages through mde_onboard, in check mode, on a lab host of its
platform: accepted packages plan the onboarding (or offboarding) to their own org, refused ones fail with a
sentence naming the reason, and nothing but the probe reaches the host."""

from __future__ import annotations

import real_packages
from windows_lab import ONBOARD, inventory


def _host(want, index):
    name = f"real{index:02d}"
    args = {"state": "present" if want.kind == "onboarding" else "absent",
            f"{want.kind}_package": str(real_packages.FOLDER / want.name)}
    if want.platform == "windows":
        state = {"onboarded_org": want.org_id} if want.kind == "offboarding" else {}
        spec = {"profile": "windows_server_2019", "state": state}
    else:
        state = {"mdatp": {"installed": True, "version": "101.25012.0000", "onboarded_org": want.org_id,
                           "passive_mode": False, "definitions_ready": True, "real_time_protection": True}}
        spec = {"profile": "debian_12", "state": state if want.kind == "offboarding" else {}}
    return name, dict(spec, vars={"mde_test_args": args})


def test_every_real_package_through_mde_onboard_in_check_mode(lab, tmp_path):
    wants = real_packages.expectations()
    hosts = dict(_host(want, index) for index, want in enumerate(wants))
    inv = inventory(tmp_path, hosts)
    _proc, results = lab.run(ONBOARD, inv, tmp_path / "out", "--check")
    wrong = []
    for index, want in enumerate(wants):
        name = f"real{index:02d}"
        result = results[name]
        executions = lab.executions(name)
        if any(call.get("operation") != "probe" for call in executions) or len(executions) > 1:
            wrong.append(f"{want.name}: more than the probe ran: {executions}")
        if want.refusal:
            if not result.get("failed") or want.refusal not in result.get("msg", ""):
                wrong.append(f"{want.name}: expected a refusal naming '{want.refusal}', got {result.get('msg')!r}")
            continue
        package = result.get("package") or {}
        if result.get("failed") or not result.get("changed") or package.get("org_id") != want.org_id:
            wrong.append(f"{want.name}: expected a planned {want.kind} to {want.org_id}, got "
                         f"failed={result.get('failed')} changed={result.get('changed')} org={package.get('org_id')} "
                         f"msg={result.get('msg')!r}")
        writes = "run_script" if want.platform == "windows" else "write_secret_file"   # the package's own step
        if writes not in [step["name"] for step in result.get("steps") or []]:
            wrong.append(f"{want.name}: no {writes} step planned: {result.get('steps')}")
    assert not wrong, "\n".join(wrong)
