"""arc_info through ansible-playbook on localhost, with the real azure-identity and azure-mgmt-hybridcompute, against
the local HTTPS fake of the Entra authority and ARM: Arc machines, their extensions, and the bounded wait for the
MDE.Windows / MDE.Linux extension Defender for Cloud deploys (issue 12, item 2)."""

from __future__ import annotations

import pathlib
import re
import time

import pytest
import yaml

from azure_fake import CLIENT_ID, SECRET, SUBSCRIPTION, FakeAzure
from azure_fake.harness import auth_args, run
from azure_fake.server import HYBRID_API_VERSIONS, MDE_PUBLISHER, extension_body, machine_id

RG = "arc-servers"


@pytest.fixture
def fake(tmp_path):
    server = FakeAzure(tmp_path / "azure").start()
    yield server
    server.stop()


def arc(**args):
    return {"defender.endpoint.arc_info": args}


def waiting(names, timeout=20, interval=1, **extra):
    return arc(resource_group=RG, names=names, wait_for_mde_extension=True, wait_timeout=timeout,
               wait_interval=interval, **extra)


def machine(result, name):
    return next(m for m in result["machines"] if m["name"] == name)


def test_connected_machines_with_their_extensions(fake, tmp_path):
    """What the fake stores comes back field by field: Windows with MDE.Windows Succeeded next to another
    extension, Linux with MDE.Linux, a machine in error with the agent's error details."""
    win = fake.put_machine(RG, "web-01", tags={"environment": "production"}, location="westeurope")
    mde = fake.put_extension(win, "MDE.Windows", message="Onboarded to Microsoft Defender for Endpoint")
    ama = fake.put_extension(win, "AzureMonitorWindowsAgent", publisher="Microsoft.Azure.Monitor", version="1.31.0.0")
    lnx = fake.put_machine(RG, "db-01", os_type="linux", location="northeurope")
    fake.put_extension(lnx, "MDE.Linux", version="1.0.6.0")
    err = fake.put_machine(RG, "app-02", status="Error", error_details=[
        {"code": "AZCM0026", "message": "Network error: the agent cannot reach the Azure Arc service."}])
    fake.clear_log()
    result = run(tmp_path, fake, [arc(resource_group=RG, names=["web-01", "db-01", "app-02"]),
                                  arc(resource_ids=[win, lnx], wait_for_mde_extension=True, wait_timeout=10,
                                      wait_interval=5)])
    first = result[0]
    assert first["failed"] is False and first["changed"] is False, first
    stored = fake.resource(win)
    web = machine(first, "web-01")
    props = stored["properties"]
    assert {k: web[k] for k in ("id", "exists", "location", "tags", "status", "agent_version", "os_name", "os_type",
                                "os_sku", "os_version", "provisioning_state", "error_details")} == {
        "id": stored["id"], "exists": True, "location": stored["location"], "tags": stored["tags"],
        "status": props["status"], "agent_version": props["agentVersion"], "os_name": props["osName"],
        "os_type": props["osType"], "os_sku": props["osSku"], "os_version": props["osVersion"],
        "provisioning_state": props["provisioningState"], "error_details": []}
    assert web["last_status_change"].startswith(props["lastStatusChange"][:19])
    by_name = {e["name"]: e for e in web["extensions"]}
    assert set(by_name) == {"MDE.Windows", "AzureMonitorWindowsAgent"}
    want = mde["properties"]
    assert {k: by_name["MDE.Windows"][k] for k in ("publisher", "type", "type_handler_version",
                                                   "provisioning_state")} == {
        "publisher": want["publisher"], "type": want["type"], "type_handler_version": want["typeHandlerVersion"],
        "provisioning_state": want["provisioningState"]}
    assert by_name["MDE.Windows"]["status"]["message"] == want["instanceView"]["status"]["message"]
    assert by_name["MDE.Windows"]["status"]["code"] == "success"
    assert by_name["AzureMonitorWindowsAgent"]["type_handler_version"] == ama["properties"]["typeHandlerVersion"]
    assert all("settings" not in e and "protected_settings" not in e for e in web["extensions"])
    assert web["mde_extension"] == {"type": "MDE.Windows", "publisher": MDE_PUBLISHER, "present": True,
                                    "name": "MDE.Windows", "provisioning_state": "Succeeded",
                                    "type_handler_version": want["typeHandlerVersion"],
                                    "message": "Onboarded to Microsoft Defender for Endpoint", "state": "succeeded",
                                    "ready": True}
    db = machine(first, "db-01")
    assert db["os_type"] == "linux" and db["location"] == "northeurope"
    assert db["mde_extension"]["type"] == "MDE.Linux" and db["mde_extension"]["ready"] is True
    app = machine(first, "app-02")
    assert app["status"] == "Error" and app["error_details"] == fake.resource(err)["properties"]["errorDetails"]
    assert app["mde_extension"]["state"] == "missing" and first["mde_extension_ready"] is False
    assert first["requests"] == {"GET": 6} and first["polls"] == 1
    # Already Succeeded: the wait ends after the first read, without sleeping an interval.
    second = result[1]
    assert second["failed"] is False and second["mde_extension_ready"] is True, second
    assert second["polls"] == 1 and second["waited"] < 5
    sent = fake.arm_requests()
    assert {r["method"] for r in sent} == {"GET"} and len(sent) == 10
    assert {r["api_version"] for r in sent} <= set(HYBRID_API_VERSIONS) and len({r["api_version"] for r in sent}) == 1
    assert {r["status"] for r in sent} == {200}


def test_extension_appears_after_some_polls(fake, tmp_path):
    mid = fake.put_machine(RG, "web-01")
    path = mid + "/extensions/MDE.Windows"
    fake.timeline(path, [None, None, extension_body(mid, "MDE.Windows", state="Creating"),
                         extension_body(mid, "MDE.Windows", state="Succeeded", message="Onboarded")])
    fake.clear_log()
    started = time.monotonic()
    result = run(tmp_path, fake, [waiting(["web-01"], timeout=30, interval=1)])
    wall = time.monotonic() - started
    print("appears after 4 polls: waited {0} s, task run {1:.1f} s".format(result[0]["waited"], wall))
    assert result[0]["failed"] is False, result[0]
    assert result[0]["polls"] == 4 and result[0]["mde_extension_ready"] is True
    assert 3 <= result[0]["waited"] < 10                  # three intervals of 1 s between four reads
    assert result[0]["machines"][0]["mde_extension"]["message"] == "Onboarded"
    lists = [r for r in fake.arm_requests() if r["path"].endswith("/extensions")]
    assert len(lists) == 4 and result[0]["requests"] == {"GET": 8}


def test_stuck_extensions_are_one_sentence_each_and_the_wait_is_bounded(fake, tmp_path):
    """Failed ends the wait at once with the extension's message; Creating at the timeout, never appeared, and a
    disconnected machine end at the timeout - measured against wait_timeout."""
    failed = fake.put_machine(RG, "web-01")
    fake.timeline(failed + "/extensions/MDE.Windows", [
        extension_body(failed, "MDE.Windows", state="Creating"),
        extension_body(failed, "MDE.Windows", state="Failed", message="Onboarding failed: the MDE installer "
                       "exited with code 1603 (a pending reboot blocks the installation)")])
    creating = fake.put_machine(RG, "web-02")
    fake.put_extension(creating, "MDE.Windows", state="Creating", message="Installing the unified solution")
    fake.put_machine(RG, "db-01", os_type="linux")
    fake.put_machine(RG, "web-03", status="Disconnected", last_status_change="2026-11-29T22:10:03.1234567Z")
    timeout = 3
    tasks = [waiting(["web-01"], timeout=30), waiting(["web-02"], timeout=timeout),
             waiting(["db-01"], timeout=timeout), waiting(["web-03"], timeout=timeout),
             waiting(["web-01", "web-02", "db-01"], timeout=timeout)]
    result = run(tmp_path, fake, tasks)
    for index, item in enumerate(result):
        assert item["failed"] is True and "\n" not in item["msg"], (index, item)
    first = result[0]
    assert first["msg"] == ("the Defender for Endpoint extension MDE.Windows on Arc machine web-01 (resource group "
                            "arc-servers, subscription {0}) is Failed: Onboarding failed: the MDE installer exited "
                            "with code 1603 (a pending reboot blocks the installation); the extension's own log on "
                            "the server tells more").format(SUBSCRIPTION)
    assert first["polls"] == 2 and first["waited"] < 5              # not the 30 s of wait_timeout
    assert "MDE.Windows on Arc machine web-02" in result[1]["msg"]
    assert "is still Creating after 3 s (Installing the unified solution); Defender for Cloud is deploying it: " \
           "wait longer (wait_timeout)" in result[1]["msg"], result[1]["msg"]
    assert "the Defender for Endpoint extension MDE.Linux (publisher Microsoft.Azure.AzureDefenderForServers) never " \
           "appeared on Arc machine db-01" in result[2]["msg"], result[2]["msg"]
    assert "check that Defender for Servers (Plan 1 or Plan 2) is on for subscription {0} and that its integration " \
           "with Defender for Endpoint is on".format(SUBSCRIPTION) in result[2]["msg"]
    assert "the machine is Disconnected since 2026-11-29T22:10:03" in result[3]["msg"], result[3]["msg"]
    assert "extensions are deployed only to a Connected machine" in result[3]["msg"]
    for item in result[1:4]:
        print("timeout {0} s, interval 1 s: waited {1} s in {2} polls".format(timeout, item["waited"], item["polls"]))
        assert timeout <= item["waited"] <= timeout + 1.5, item["waited"]
        assert item["polls"] <= timeout + 1
        assert item["machines"][0]["mde_extension"]["ready"] is False
    several = result[4]
    assert several["msg"].startswith("3 of 3 Arc machines have no Succeeded Defender for Endpoint extension: ")
    assert [m["mde_extension"]["state"] for m in several["machines"]] == ["failed", "pending", "missing"]
    assert timeout <= several["waited"] <= timeout + 1.5
    assert {r["method"] for r in fake.arm_requests()} == {"GET"}


def test_missing_machine(fake, tmp_path):
    fake.put_machine(RG, "web-01")
    fake.clear_log()
    result = run(tmp_path, fake, [arc(resource_group=RG, names=["web-01", "gone-01"]),
                                  arc(resource_group=RG, names=["web-01", "gone-01"], fail_on_missing=True),
                                  waiting(["gone-01"], timeout=2)])
    gone = machine(result[0], "gone-01")
    assert result[0]["failed"] is False
    assert gone["exists"] is False and gone["extensions"] == [] and gone["mde_extension"]["state"] == "no_machine"
    assert machine(result[0], "web-01")["exists"] is True
    assert result[1]["failed"] is True
    assert result[1]["msg"].startswith("Arc machine gone-01 (resource group arc-servers, subscription {0}) does not "
                                       "exist: connect the server to Azure Arc first (azcmagent connect)".format(
                                           SUBSCRIPTION)), result[1]["msg"]
    assert machine(result[1], "web-01")["exists"] is True            # the machines are returned all the same
    assert "does not exist (still not after 2 s)" in result[2]["msg"], result[2]["msg"]
    # A missing machine is one GET: its extensions are not asked for.
    gone_requests = [r for r in fake.arm_requests() if "/gone-01" in r["path"]]
    assert all(not r["path"].endswith("/extensions") for r in gone_requests)
    assert {r["status"] for r in gone_requests} == {404}


def test_arm_errors_are_one_sentence(fake, tmp_path):
    """403 names the roles for reading, 404 of a resource group says so, 500 and 429 are retried a bounded number of
    times (request_retries 2) and 429 then succeeds, 409 names the HybridCompute provider."""
    mid = fake.put_machine(RG, "web-01")
    fake.put_extension(mid, "MDE.Windows")
    fake.put_machine(RG, "web-02")
    fake.fault(403, times=1, match="/machines/web-01")
    fake.fault(500, times=3, match="/machines/web-01")
    fake.fault(429, times=2, match="/machines/web-01/extensions", retry_after=1)
    fake.fault(409, times=1, match="/machines/web-02", code="MissingSubscriptionRegistration")
    fake.clear_log()
    one = arc(resource_group=RG, names=["web-01"])
    elsewhere = mid.replace(SUBSCRIPTION, "00000000-1111-4222-8333-444444444444")
    result = run(tmp_path, fake, [one, one, one, arc(resource_group=RG, names=["web-02"]),
                                  arc(resource_group="no-such-group", names=["web-01"]), arc(resource_ids=[elsewhere])])
    label = "Arc machine web-01 (resource group arc-servers, subscription {0})".format(SUBSCRIPTION)
    msgs = [r.get("msg", "") for r in result]
    assert msgs[0].startswith("could not read " + label + ": the identity lacks permission (403 AuthorizationFailed"), \
        msgs[0]
    assert "needs the Reader role (or Azure Connected Machine Resource Administrator) on the machine's resource " \
           "group or subscription" in msgs[0]
    assert msgs[1].startswith("could not read " + label + ": Azure Resource Manager failed (500 InternalServerError")
    assert "after 2 retries" in msgs[1]
    assert result[2]["failed"] is False and result[2]["mde_extension_ready"] is True, result[2]
    assert "register it (az provider register --namespace Microsoft.HybridCompute)" in msgs[3], msgs[3]
    assert msgs[4] == ("resource group no-such-group does not exist in subscription {0} (404 ResourceGroupNotFound): "
                       "check resource_group, the resource ids and subscription_id").format(SUBSCRIPTION)
    assert "not found (404 SubscriptionNotFound" in msgs[5] and "00000000-1111-4222-8333-444444444444" in msgs[5]
    assert all("\n" not in m for m in msgs)
    sent = fake.arm_requests()
    attempts = [r["status"] for r in sent if r["path"].endswith("/machines/web-01")]
    assert attempts[:5] == [403, 500, 500, 500, 200], attempts            # 500: 1 + 2 retries, then the 3rd task
    lists = [r["status"] for r in sent if r["path"].endswith("/web-01/extensions")]
    assert lists[:3] == [429, 429, 200], lists
    assert {r["method"] for r in sent} == {"GET"}
    assert not [r for r in fake.requests() if "register" in r["path"].lower()]    # the 409: no provider registered


def test_check_mode_reads_the_same_and_changes_nothing(fake, tmp_path):
    mid = fake.put_machine(RG, "web-01")
    fake.timeline(mid + "/extensions/MDE.Windows", [None, extension_body(mid, "MDE.Windows")])
    fake.clear_log()
    before = fake.load()["resources"]
    result = run(tmp_path, fake, [waiting(["web-01"], timeout=10)], "--check")
    assert result[0]["failed"] is False and result[0]["changed"] is False, result[0]
    assert result[0]["polls"] == 2 and result[0]["mde_extension_ready"] is True
    assert {r["method"] for r in fake.arm_requests()} == {"GET"}
    after = fake.load()["resources"]
    assert {k: v for k, v in after.items() if "/extensions/" not in k} == before
    assert [k for k in after if k not in before] == [(mid + "/extensions/MDE.Windows").lower()]   # the timeline's own


def test_no_secret_in_vvv_output_or_request_log(fake, tmp_path):
    mid = fake.put_machine(RG, "web-01")
    fake.timeline(mid + "/extensions/MDE.Windows", [None, extension_body(mid, "MDE.Windows")])
    result = run(tmp_path, fake, [waiting(["web-01"], timeout=10), waiting(["web-02"], timeout=1)], "-vvv")
    assert result[0]["failed"] is False and result[1]["failed"] is True
    assert result.output.count(SECRET) == 0
    assert "fake-token-" not in result.output
    assert "secret" in result.output                    # the option is there, masked
    log = fake.log_path.read_text()
    assert SECRET not in log and "fake-token-" not in log and '"client_secret": "<redacted>"' in log


REFUSED = [
    ({"names": ["web-01"]}, "names needs resource_group"),
    ({}, "give the machines to read: names (with resource_group) or resource_ids"),
    ({"resource_group": RG, "names": ["web/01"]}, "cannot be the name of an Arc machine"),
    ({"resource_group": "bad group!", "names": ["web-01"]}, "resource group 'bad group!' is not a valid name"),
    ({"resource_ids": ["/subscriptions/{0}/resourceGroups/{1}/providers/Microsoft.Compute/virtualMachines/vm1".format(
        SUBSCRIPTION, RG)]}, "is not an Arc machine id like /subscriptions/<id>/resourceGroups/<group>/providers/"
                             "Microsoft.HybridCompute/machines/<name>"),
    ({"resource_ids": [machine_id("not-a-guid", RG, "web-01")]}, "does not hold a subscription id (a GUID)"),
    ({"resource_group": RG, "names": ["web-01"], "wait_interval": 0}, "wait_interval must be at least 1 second"),
    ({"resource_group": RG, "names": ["web-01"], "wait_timeout": -1}, "wait_timeout must be 0 or more seconds"),
    ({"resource_group": RG, "names": ["web-01"], "wait_for_mde_extension": True, "include_extensions": False},
     "cannot be used with include_extensions false"),
    ({"resource_group": RG, "names": ["web-01"], "cloud_environment": "AzureChinaCloud"}, "not in Azure China"),
]


def test_bad_input_is_refused_before_any_request(fake, tmp_path):
    result = run(tmp_path, fake, [arc(**args) for args, dummy in REFUSED])
    for item, (args, expect) in zip(result, REFUSED):
        assert item["failed"] is True and expect in item["msg"] and "\n" not in item["msg"], (args, item)
    assert fake.requests() == []


def test_resource_ids_in_two_subscriptions_with_one_sign_in(tmp_path):
    second = "30ff7fc3-e762-44dd-bd96-b71116dcdc24"
    fake = FakeAzure(tmp_path / "azure", subscriptions=(SUBSCRIPTION, second)).start()
    try:
        one = fake.put_machine(RG, "web-01")
        two = fake.put_machine("branch-office", "web-09", sub=second, os_type="linux")
        fake.put_extension(two, "MDE.Linux")
        defaults = {k: v for k, v in auth_args(fake).items() if k != "subscription_id"}
        again = one.replace("resourceGroups", "resourcegroups").replace("web-01", "WEB-01")
        result = run(tmp_path, fake, [arc(resource_ids=[one, two, again])], defaults=defaults)
        assert result[0]["failed"] is False, result[0]
        assert [(m["subscription_id"], m["name"]) for m in result[0]["machines"]] == [
            (SUBSCRIPTION, "web-01"), (second, "web-09")]                 # the same machine given twice: read once
        assert [m["mde_extension"]["state"] for m in result[0]["machines"]] == ["missing", "succeeded"]
        assert len([r for r in fake.requests() if r["method"] == "POST"]) == 1
    finally:
        fake.stop()


def test_bad_credentials_are_one_sentence(fake, tmp_path):
    fake.put_machine(RG, "web-01")
    wrong = "wrong-secret-Kx7~Pq"
    result = run(tmp_path, fake, [arc(resource_group=RG, names=["web-01"], secret=wrong),
                                  arc(resource_group=RG, names=["web-01"],
                                      client_id="99999999-0000-4000-8000-000000000000")], "-vvv")
    assert "sign-in to Microsoft Entra ID (AzureCloud)" in result[0]["msg"] and "AADSTS7000215" in result[0]["msg"]
    assert "AADSTS700016" in result[1]["msg"] and CLIENT_ID not in result[1]["msg"]
    assert wrong not in result.output and SECRET not in result.output
    assert fake.arm_requests() == []


def test_missing_sdk_is_one_sentence(fake, tmp_path):
    result = run(tmp_path, fake, [arc(resource_group=RG, names=["web-01"])], interpreter="/usr/bin/python3")
    if not result[0].get("failed"):
        pytest.skip("/usr/bin/python3 has the Azure SDKs")
    assert "install azure-identity and azure-mgmt-hybridcompute (requirements.txt" in result[0]["msg"], result[0]
    assert fake.requests() == []


def test_module_examples_run_against_the_fake(fake, tmp_path):
    source = (pathlib.Path(__file__).resolve().parents[2] / "plugins" / "modules" / "arc_info.py").read_text()
    tasks = yaml.safe_load(re.search(r'EXAMPLES = r"""(.*?)"""', source, re.S).group(1))
    web = fake.put_machine(RG, "web-01")
    fake.put_extension(web, "MDE.Windows")
    fake.put_machine(RG, "db-01", os_type="linux")
    play_vars = {"azure_subscription_id": SUBSCRIPTION, "azure_client_id": CLIENT_ID, "azure_secret": SECRET,
                 "azure_tenant": fake.load()["tenant"]}
    result = run(tmp_path, fake, tasks, play_vars=play_vars)
    for example, answer in zip(tasks, result.results):
        assert not answer.get("failed"), (example["name"], answer.get("msg"))
    assert [m["name"] for m in result[0]["machines"]] == ["web-01", "db-01"]
    assert result[1]["msg"] == ["db-01"]                   # Defender for Cloud has not covered db-01 yet
    assert result[2]["polls"] == 1 and result[2]["mde_extension_ready"] is True
    assert SECRET not in result.output
