"""The defender_for_cloud role, migrate.yml's first play and the modules' EXAMPLES, against the local HTTPS fake with
the real Azure SDKs (issue 11, items 5 and 6)."""

from __future__ import annotations

import json
import re
import subprocess

import yaml

from azure_fake import CLIENT_ID, SECRET, SUBSCRIPTION, TENANT, FakeAzure
from azure_fake.harness import BIN, ROOT, auth_args, env, run

OTHER = "00000000-1111-4222-8333-444444444444"
ENTRY_KEYS = {"subscription_id", "plan", "mde_integration", "unified_solution", "linux", "vulnerability_assessment",
              "changed"}


def role_task(**role_vars):
    return {"ansible.builtin.include_role": {"name": "defender.endpoint.defender_for_cloud"}, "vars": role_vars}


def fact_task():
    return {"ansible.builtin.debug": {"var": "hostvars['localhost'].mde_defender_for_cloud"}}


def test_role_sets_the_subscription_and_records_the_fact(tmp_path):
    fake = FakeAzure(tmp_path / "azure").start()
    try:
        check = run(tmp_path, fake, [role_task(defender_for_cloud_subscriptions=[SUBSCRIPTION]), fact_task()],
                    "--check")
        assert [r for r in fake.arm_requests() if r["method"] != "GET"] == []
        first = run(tmp_path, fake, [role_task(defender_for_cloud_subscriptions=[SUBSCRIPTION]), fact_task()], "-vvv")
        assert SECRET not in first.output
        entries = first[1]["hostvars['localhost'].mde_defender_for_cloud"]
        assert entries == [{"subscription_id": SUBSCRIPTION, "plan": "P2", "mde_integration": True,
                            "unified_solution": True, "linux": True, "vulnerability_assessment": "mdvm",
                            "changed": True}]
        assert check[1]["hostvars['localhost'].mde_defender_for_cloud"] == entries      # predicted in check mode
        fake.clear_log()
        second = run(tmp_path, fake, [role_task(defender_for_cloud_subscriptions=[SUBSCRIPTION]), fact_task()])
        assert second[1]["hostvars['localhost'].mde_defender_for_cloud"][0]["changed"] is False
        assert {r["method"] for r in fake.arm_requests()} == {"GET"}
    finally:
        fake.stop()


def test_role_records_a_failed_subscription_then_fails(tmp_path):
    fake = FakeAzure(tmp_path / "azure").start()
    try:
        result = run(tmp_path, fake, [
            role_task(defender_for_cloud_subscriptions=[SUBSCRIPTION, OTHER], defender_for_cloud_fail_on_error=False),
            fact_task()])
        entries = result[1]["hostvars['localhost'].mde_defender_for_cloud"]
        assert [e["subscription_id"] for e in entries] == [SUBSCRIPTION, OTHER]
        assert set(entries[0]) == ENTRY_KEYS
        assert entries[1]["failed"] is True and "SubscriptionNotFound" in entries[1]["msg"]
        stopped = run(tmp_path, fake, [role_task(defender_for_cloud_subscriptions=[OTHER])], may_stop=True)
        assert stopped.proc.returncode != 0 and stopped.results == []
        assert "Defender for Cloud could not be set on 1 subscription(s): " + OTHER in stopped.output
    finally:
        fake.stop()


def _migrate(tmp_path, extra):
    (tmp_path / "extra.json").write_text(json.dumps(extra))
    cmd = [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=" + str(BIN / "python"), "-e", "@" + str(tmp_path / "extra.json"),
           str(ROOT / "playbooks" / "migrate.yml")]
    return subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=str(tmp_path), timeout=300, check=False)


def test_migrate_runs_the_role_first_only_with_subscriptions(tmp_path):
    fake = FakeAzure(tmp_path / "azure").start()
    try:
        auth = {k: v for k, v in auth_args(fake).items() if k != "subscription_id"}
        skipped = _migrate(tmp_path, {"mde_hosts": "no_such_host", "defender_for_cloud_auth": auth,
                                      "mde_report_dir": str(tmp_path / "report")})
        assert "Set the Defender for Cloud prerequisites of the Azure subscriptions" in skipped.stdout
        assert fake.requests() == []
        proc = _migrate(tmp_path, {"mde_azure_subscriptions": [SUBSCRIPTION], "mde_hosts": "no_such_host",
                                   "mde_report_dir": str(tmp_path / "report"), "defender_for_cloud_auth": auth})
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        assert SECRET not in proc.stdout + proc.stderr
        pricing = fake.resource("/subscriptions/{0}/providers/Microsoft.Security/pricings/VirtualMachines".format(
            SUBSCRIPTION))
        assert pricing["properties"]["subPlan"] == "P2"
    finally:
        fake.stop()


def test_the_fleet_report_shows_the_role_fact(tmp_path):
    fake = FakeAzure(tmp_path / "azure").start()
    try:
        report_dir = tmp_path / "report"
        run(tmp_path, fake, [role_task(defender_for_cloud_subscriptions=[SUBSCRIPTION]),
                             {"ansible.builtin.include_role": {"name": "defender.endpoint.report"},
                              "vars": {"report_dir": str(report_dir), "report_hosts": [],
                                       "report_playbook": "migrate"}}])
        report = json.loads((report_dir / "report.json").read_text())
        assert report["defender_for_cloud"] == [{"subscription_id": SUBSCRIPTION, "plan": "P2",
                                                 "mde_integration": True, "unified_solution": True, "linux": True,
                                                 "vulnerability_assessment": "mdvm", "changed": True}], report
    finally:
        fake.stop()


def _examples(module):
    source = (ROOT / "plugins" / "modules" / (module + ".py")).read_text()
    return yaml.safe_load(re.search(r'EXAMPLES = r"""(.*?)"""', source, re.S).group(1))


def test_module_examples_run_against_the_fake(tmp_path):
    second = "30ff7fc3-e762-44dd-bd96-b71116dcdc24"
    fake = FakeAzure(tmp_path / "azure", subscriptions=(SUBSCRIPTION, second)).start()
    try:
        tasks = _examples("defender_for_cloud") + _examples("defender_for_cloud_info")
        play_vars = {"azure_subscription_id": SUBSCRIPTION, "azure_second_subscription_id": second,
                     "azure_client_id": CLIENT_ID, "azure_secret": SECRET, "azure_tenant": TENANT}
        defaults = {k: v for k, v in auth_args(fake).items()
                    if k in ("authority", "arm_endpoint", "disable_instance_discovery", "ca_bundle")}
        result = run(tmp_path, fake, tasks, defaults=defaults, play_vars=play_vars)
        for example, answer in zip(tasks, result.results):
            assert not answer.get("failed"), (example["name"], answer.get("msg"))
        assert [r["changed"] for r in result.results[:3]] == [True, True, True]
        assert result[3]["subscriptions"][1]["subscription_id"] == second
        assert result[4]["msg"] == [second]          # the second subscription still lacks the Linux switch
        assert SECRET not in result.output
    finally:
        fake.stop()
