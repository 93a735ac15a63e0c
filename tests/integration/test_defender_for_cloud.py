"""defender_for_cloud and defender_for_cloud_info through ansible-playbook on localhost, with the real azure-identity
and azure-mgmt-security, against the local HTTPS fake of the Entra authority and ARM (issue 11, item 4)."""

from __future__ import annotations

import json

import pytest

from azure_fake import CLIENT_ID, SECRET, SUBSCRIPTION, TENANT, FakeAzure
from azure_fake.harness import auth_args, run
from azure_fake.server import ConnectRecorder, pricing_body, setting_body, va_body

BASE = "/subscriptions/{0}/providers/Microsoft.Security".format(SUBSCRIPTION)
PRICING = BASE + "/pricings/VirtualMachines"
VM = "/subscriptions/{0}/resourceGroups/servers/providers/Microsoft.Compute/virtualMachines/web-01".format(SUBSCRIPTION)
CONVERGED = {"plan": "P2", "mde_integration": True, "unified_solution": True, "linux": True,
             "vulnerability_assessment": "mdvm"}


@pytest.fixture
def fake(tmp_path):
    server = FakeAzure(tmp_path / "azure").start()
    yield server
    server.stop()


def converge(fake, extensions=()):
    """A subscription where CONVERGED already holds."""
    sub = "subscriptions/" + SUBSCRIPTION
    fake.put_resource(PRICING, pricing_body(sub, "Standard", "P2", extensions))
    fake.put_resource(BASE + "/settings/WDATP", setting_body(SUBSCRIPTION, "WDATP", True))
    fake.put_resource(BASE + "/settings/WDATP_UNIFIED_SOLUTION", setting_body(SUBSCRIPTION, "WDATP_UNIFIED_SOLUTION", True))
    fake.put_resource(BASE + "/settings/WDATP_EXCLUDE_LINUX_PUBLIC_PREVIEW",
                      setting_body(SUBSCRIPTION, "WDATP_EXCLUDE_LINUX_PUBLIC_PREVIEW", False))
    fake.put_resource(BASE + "/serverVulnerabilityAssessmentsSettings/azureServersSetting", va_body(SUBSCRIPTION))
    fake.clear_log()


def task(**args):
    return {"defender.endpoint.defender_for_cloud": args}


def writes(fake):
    return [r for r in fake.arm_requests() if r["method"] != "GET"]


def test_converged_subscription_sends_gets_only(fake, tmp_path):
    converge(fake, [{"name": "AgentlessVmScanning", "isEnabled": "True"}])
    result = run(tmp_path, fake, [task(**CONVERGED)])
    assert result[0]["changed"] is False, result[0]
    assert result[0]["changes"] == []
    assert writes(fake) == []
    assert {r["method"] for r in fake.arm_requests()} == {"GET"}
    assert result[0]["requests"] == {"GET": 5, "PUT": 0, "DELETE": 0}
    assert result[0]["state"]["extensions"][0]["enabled"] is True


def test_legacy_subscription_converges_and_the_second_run_changes_nothing(fake, tmp_path):
    first = run(tmp_path, fake, [task(**CONVERGED), {"defender.endpoint.defender_for_cloud_info": {}}])
    assert first[0]["changed"] is True
    state = first[1]["subscriptions"][0]
    assert {k: state[k] for k in CONVERGED} == CONVERGED
    assert [(r["method"], r["path"].rsplit("/", 1)[1]) for r in writes(fake)] == [
        ("PUT", "VirtualMachines"), ("PUT", "WDATP"), ("PUT", "WDATP_UNIFIED_SOLUTION"),
        ("PUT", "WDATP_EXCLUDE_LINUX_PUBLIC_PREVIEW"), ("PUT", "azureServersSetting")]
    fake.clear_log()
    second = run(tmp_path, fake, [task(**CONVERGED)])
    assert second[0]["changed"] is False and writes(fake) == []


@pytest.mark.parametrize("args, path, body", [
    ({"plan": "P1"}, PRICING, {"properties": {"pricingTier": "Standard", "subPlan": "P1", "enforce": "False",
                                              "extensions": [{"name": "AgentlessVmScanning", "isEnabled": "True"}]}}),
    ({"plan": "off"}, PRICING, {"properties": {"pricingTier": "Free"}}),
    ({"extensions": [{"name": "AgentlessVmScanning", "enabled": False}]}, PRICING,
     {"properties": {"pricingTier": "Standard", "subPlan": "P2", "enforce": "False",
                     "extensions": [{"name": "AgentlessVmScanning", "isEnabled": "False"}]}}),
    ({"mde_integration": False}, BASE + "/settings/WDATP", {"kind": "DataExportSettings",
                                                            "properties": {"enabled": False}}),
    ({"unified_solution": False}, BASE + "/settings/WDATP_UNIFIED_SOLUTION",
     {"kind": "DataExportSettings", "properties": {"enabled": False}}),
    ({"linux": False}, BASE + "/settings/WDATP_EXCLUDE_LINUX_PUBLIC_PREVIEW",
     {"kind": "DataExportSettings", "properties": {"enabled": True}}),
    ({"vulnerability_assessment": "off"}, BASE + "/serverVulnerabilityAssessmentsSettings/azureServersSetting", None),
    ({"resources": [VM], "resource_plan": "P1"}, VM + "/providers/Microsoft.Security/pricings/VirtualMachines",
     {"properties": {"pricingTier": "Standard", "subPlan": "P1"}}),
], ids=["plan-P1", "plan-off", "extension", "mde_integration", "unified_solution", "linux", "va-off", "resource-P1"])
def test_each_setting_changed_alone(fake, tmp_path, args, path, body):
    converge(fake, [{"name": "AgentlessVmScanning", "isEnabled": "True"}])
    result = run(tmp_path, fake, [task(**args), task(**args)])
    assert result[0]["changed"] is True and len(result[0]["changes"]) == 1, result[0]
    sent = writes(fake)
    assert len(sent) == 1, sent
    assert sent[0]["path"].lower() == path.lower()
    assert sent[0].get("body") == body
    assert result[1]["changed"] is False, result[1]["changes"]
    assert len(writes(fake)) == 1


def test_check_mode_sends_no_put_and_predicts_the_state(fake, tmp_path):
    before = fake.load()["resources"]
    result = run(tmp_path, fake, [task(**CONVERGED, extensions=[{"name": "AgentlessVmScanning"}])], "--check", "--diff")
    assert result[0]["changed"] is True
    assert {k: result[0]["state"][k] for k in CONVERGED} == CONVERGED
    assert result[0]["requests"]["PUT"] == 0
    assert writes(fake) == [] and len(fake.arm_requests()) == 5
    assert fake.load()["resources"] == before
    assert result[0]["diff"]["before"]["linux"] is False and result[0]["diff"]["after"]["linux"] is True
    assert "plan: off -> P2" in result[0]["changes"]


def test_an_extension_the_task_does_not_name_survives_a_plan_change(fake, tmp_path):
    tags = '[{"Key":"TestKey1","Value":"TestValue1"}]'
    converge(fake, [{"name": "AgentlessVmScanning", "isEnabled": "True",
                     "additionalExtensionProperties": {"ExclusionTags": tags}},
                    {"name": "MdeDesignatedSubscription", "isEnabled": "False"}])
    result = run(tmp_path, fake, [task(plan="P1"), task(extensions=[{"name": "FileIntegrityMonitoring"}])])
    put = writes(fake)[0]["body"]["properties"]
    assert put["subPlan"] == "P1"
    assert put["extensions"] == [
        {"name": "AgentlessVmScanning", "isEnabled": "True", "additionalExtensionProperties": {"ExclusionTags": tags}},
        {"name": "MdeDesignatedSubscription", "isEnabled": "False"}]
    stored = fake.resource(PRICING)["properties"]["extensions"]
    assert [e["name"] for e in stored] == ["AgentlessVmScanning", "MdeDesignatedSubscription",
                                           "FileIntegrityMonitoring"]
    assert stored[0]["additionalExtensionProperties"] == {"ExclusionTags": tags}
    assert result[1]["state"]["plan"] == "P1"


def test_extension_properties_are_merged_by_name(fake, tmp_path):
    converge(fake, [{"name": "AgentlessVmScanning", "isEnabled": "True",
                     "additionalExtensionProperties": {"ExclusionTags": "[]", "Other": "kept"}}])
    run(tmp_path, fake, [task(extensions=[{"name": "agentlessvmscanning", "properties": {"ExclusionTags": "[1]"}}])])
    ext = fake.resource(PRICING)["properties"]["extensions"]
    assert ext[0]["name"] == "AgentlessVmScanning"
    assert ext[0]["additionalExtensionProperties"] == {"ExclusionTags": "[1]", "Other": "kept"}


def test_linux_flag_polarity_is_hidden(fake, tmp_path):
    flag = BASE + "/settings/WDATP_EXCLUDE_LINUX_PUBLIC_PREVIEW"
    converge(fake)
    fake.put_resource(flag, setting_body(SUBSCRIPTION, "WDATP_EXCLUDE_LINUX_PUBLIC_PREVIEW", True))
    result = run(tmp_path, fake, [{"defender.endpoint.defender_for_cloud_info": {}}, task(linux=True)])
    assert result[0]["subscriptions"][0]["linux"] is False          # excluded=true means Linux off
    assert writes(fake)[0]["body"]["properties"]["enabled"] is False  # Linux on = exclude false
    assert fake.resource(flag)["properties"]["enabled"] is False
    assert result[1]["state"]["linux"] is True


@pytest.mark.parametrize("status, times, expect", [
    (401, 1, "refused the access token (401 InvalidAuthenticationToken"),
    (403, 1, "Security Admin or Owner"),
    (404, 1, "not found (404 ResourceNotFound"),
    (500, 9, "failed (500 InternalServerError"),
    (409, 1, "has not registered the resource provider"),
])
def test_arm_errors_are_one_sentence(fake, tmp_path, status, times, expect):
    fake.fault(status, times=times, match="/pricings/")
    result = run(tmp_path, fake, [task(plan="P2")])
    assert result[0]["failed"] is True
    msg = result[0]["msg"]
    assert expect in msg and "\n" not in msg, msg
    assert msg.startswith("could not read the Defender for Servers plan of subscription " + SUBSCRIPTION)
    assert writes(fake) == [] and not [r for r in fake.requests() if r["method"] == "POST" and "register" in r["path"]]
    attempts = [r for r in fake.arm_requests() if "/pricings/" in r["path"]]
    assert len(attempts) == (3 if status == 500 else 1)          # request_retries 2: 500 is retried, bounded


def test_403_from_a_reader_on_write_names_the_roles(fake, tmp_path):
    fake.edit(lambda s: s["readonly_clients"].append(CLIENT_ID))
    result = run(tmp_path, fake, [task(mde_integration=True), {"defender.endpoint.defender_for_cloud_info": {}}])
    assert result[0]["failed"] is True
    assert "could not set the WDATP setting of subscription" in result[0]["msg"]
    assert "needs the Security Admin or Owner role on the subscription" in result[0]["msg"]
    assert result[1]["failed"] is False                                   # reading works for a reader


def test_unknown_subscription_is_one_sentence(fake, tmp_path):
    other = "00000000-1111-4222-8333-444444444444"
    result = run(tmp_path, fake, [task(plan="P2", subscription_id=other)])
    assert "not found (404 SubscriptionNotFound" in result[0]["msg"] and other in result[0]["msg"]


def test_429_is_retried_with_backoff_and_then_succeeds(fake, tmp_path):
    fake.fault(429, times=2, match="/pricings/", retry_after=1)
    result = run(tmp_path, fake, [task(plan="P2")])
    assert result[0]["changed"] is True, result[0]
    gets = [r for r in fake.arm_requests() if "/pricings/" in r["path"] and r["method"] == "GET"]
    assert [r["status"] for r in gets] == [429, 429, 200]


def test_429_retries_are_bounded(fake, tmp_path):
    fake.fault(429, times=50, match="/settings/", retry_after=1)
    result = run(tmp_path, fake, [task(mde_integration=True)])
    assert "kept throttling the requests (429) after 2 retries" in result[0]["msg"], result[0]
    assert len([r for r in fake.arm_requests() if "/settings/" in r["path"]]) == 3


def test_bad_credentials_are_one_sentence_and_never_show_the_secret(fake, tmp_path):
    wrong = "wrong-secret-Kx7~Pq"
    result = run(tmp_path, fake, [task(plan="P2", secret=wrong)], "-vvv")
    msg = result[0]["msg"]
    assert "sign-in to Microsoft Entra ID (AzureCloud)" in msg and "AADSTS7000215" in msg, msg
    assert "client secret is wrong or expired" in msg
    assert wrong not in result.output and SECRET not in result.output
    assert fake.arm_requests() == []


def test_unknown_client_and_tenant(fake, tmp_path):
    result = run(tmp_path, fake, [task(client_id="99999999-0000-4000-8000-000000000000"),
                                  task(tenant="11111111-2222-4333-8444-555555555555")])
    assert "AADSTS700016" in result[0]["msg"] and "client id or the tenant is wrong" in result[0]["msg"]
    assert result[1]["failed"] is True and "sign-in to Microsoft Entra ID" in result[1]["msg"]


def test_no_secret_in_vvv_output_or_request_log(fake, tmp_path):
    result = run(tmp_path, fake, [task(**CONVERGED), {"defender.endpoint.defender_for_cloud_info": {}}],
                 "-vvv", "--diff")
    assert result[0]["changed"] is True
    assert result.output.count(SECRET) == 0
    assert "secret" in result.output                    # the option is there, masked
    log = fake.log_path.read_text()
    assert SECRET not in log and "fake-token-" not in log and '"client_secret": "<redacted>"' in log


def test_us_government_scope(fake, tmp_path):
    result = run(tmp_path, fake, [task(plan="P2", cloud_environment="AzureUSGovernment")])
    assert result[0]["auth"]["credential_scope"] == "https://management.usgovcloudapi.net/.default"
    token = [r for r in fake.requests() if r["method"] == "POST"]
    assert token[0]["body"]["scope"] == "https://management.usgovcloudapi.net/.default"
    assert {r["token_scope"] for r in fake.arm_requests()} == {"https://management.usgovcloudapi.net/.default"}


def test_us_government_endpoints_without_overrides(fake, tmp_path):
    """Without authority/arm_endpoint the sign-in goes to the US Government authority: a recording proxy on
    127.0.0.1 sees where the SDK connects and refuses, so nothing leaves the machine."""
    proxy = ConnectRecorder()
    try:
        defaults = {k: v for k, v in auth_args(fake, cloud_environment="AzureUSGovernment", request_retries=0,
                                               request_timeout=5).items() if k not in ("authority", "arm_endpoint")}
        result = run(tmp_path, fake, [task(plan="P2")], defaults=defaults, HTTPS_PROXY=proxy.url,
                     https_proxy=proxy.url)
    finally:
        proxy.stop()
    assert "sign-in to Microsoft Entra ID (AzureUSGovernment) at https://login.microsoftonline.us failed" \
        in result[0]["msg"], result[0]["msg"]
    assert proxy.targets and set(proxy.targets) == {"login.microsoftonline.us:443"}
    assert fake.requests() == []


REFUSED = [
    ({"plan": "off", "extensions": [{"name": "AgentlessVmScanning"}]}, "plan off (the Free tier) has no extensions"),
    ({"resources": [VM], "resource_plan": "P2"}, "Plan 1 only at resource level"),
    ({"mde_integration": False, "linux": True}, "linux needs the Defender for Endpoint integration"),
    ({"resources": ["web-01"]}, "is not an ARM resource id"),
    ({"resources": [VM.replace(SUBSCRIPTION, "00000000-1111-4222-8333-444444444444")]}, "is not in subscription"),
    ({"cloud_environment": "AzureChinaCloud"}, "not in Azure China (R-74); no request was sent"),
]


def test_refused_before_any_request(fake, tmp_path):
    """What the service would refuse, and Azure China, fail in one sentence before any request (one play)."""
    tasks = [task(**args) for args, dummy in REFUSED]
    tasks.append({"defender.endpoint.defender_for_cloud_info": {"cloud_environment": "AzureChinaCloud"}})
    result = run(tmp_path, fake, tasks)
    for index, expect in enumerate([e for dummy, e in REFUSED] + [REFUSED[-1][1]]):
        assert result[index]["failed"] is True and expect in result[index]["msg"], (expect, result[index])
    assert fake.requests() == []


@pytest.mark.parametrize("args, expect", [
    ({"extensions": [{"name": "AgentlessVmScanning"}]}, "is on the Free tier (plan off)"),
    ({"unified_solution": True}, "unified_solution needs the Defender for Endpoint integration, which is off"),
])
def test_refused_after_reading_before_any_write(fake, tmp_path, args, expect):
    result = run(tmp_path, fake, [task(**args)])
    assert expect in result[0]["msg"], result[0]["msg"]
    assert fake.arm_requests() and writes(fake) == []


def test_resource_level_plan_and_info(fake, tmp_path):
    result = run(tmp_path, fake, [
        {"defender.endpoint.defender_for_cloud_info": {"resources": [VM]}},
        task(resources=[VM]),
        {"defender.endpoint.defender_for_cloud_info": {"resources": [VM]}}])
    assert result[0]["subscriptions"][0]["resources"][0]["inherited"] is True
    assert result[1]["changes"] == ["resource {0}: off (inherited) -> P1".format(VM)]
    assert result[2]["subscriptions"][0]["resources"] == [{"id": VM, "plan": "P1", "inherited": False,
                                                           "extensions": []}]
    assert result[2]["subscriptions"][0]["plan"] == "off"


def test_info_reads_many_subscriptions_with_one_sign_in(tmp_path):
    second = "30ff7fc3-e762-44dd-bd96-b71116dcdc24"
    fake = FakeAzure(tmp_path / "azure", subscriptions=(SUBSCRIPTION, second)).start()
    try:
        result = run(tmp_path, fake, [{"defender.endpoint.defender_for_cloud_info": {
            "subscription_ids": [SUBSCRIPTION, second], "subscription_id": None}}],
            defaults={k: v for k, v in auth_args(fake).items() if k != "subscription_id"})
        assert [s["subscription_id"] for s in result[0]["subscriptions"]] == [SUBSCRIPTION, second]
        assert len([r for r in fake.requests() if r["method"] == "POST"]) == 1
        assert {r["method"] for r in fake.arm_requests()} == {"GET"}
        assert result[0]["changed"] is False
    finally:
        fake.stop()


def test_environment_variables_and_credentials_file(fake, tmp_path):
    defaults = {k: v for k, v in auth_args(fake).items()
                if k not in ("subscription_id", "client_id", "secret", "tenant")}
    without_ca = {k: v for k, v in defaults.items() if k != "ca_bundle"}
    by_env = run(tmp_path, fake, [{"defender.endpoint.defender_for_cloud_info": {}}], defaults=without_ca,
                 AZURE_SUBSCRIPTION_ID=SUBSCRIPTION, AZURE_CLIENT_ID=CLIENT_ID, AZURE_SECRET=SECRET,
                 AZURE_TENANT=TENANT, REQUESTS_CA_BUNDLE=fake.ca)       # the CA through the environment
    assert by_env[0]["auth"]["auth_source"] == "env", by_env[0]
    untrusted = run(tmp_path, fake, [{"defender.endpoint.defender_for_cloud_info": {"auth_source": "env"}}],
                    defaults=dict(without_ca, request_retries=0), AZURE_SUBSCRIPTION_ID=SUBSCRIPTION,
                    AZURE_CLIENT_ID=CLIENT_ID, AZURE_SECRET=SECRET, AZURE_TENANT=TENANT)
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted[0]["msg"] and "\n" not in untrusted[0]["msg"], untrusted[0]
    home = tmp_path / "home"
    (home / ".azure").mkdir(parents=True)
    (home / ".azure" / "credentials").write_text(
        "[default]\nsubscription_id={0}\nclient_id={1}\nsecret={2}\ntenant={3}\n".format(
            SUBSCRIPTION, CLIENT_ID, SECRET, TENANT))
    by_file = run(tmp_path, fake, [{"defender.endpoint.defender_for_cloud_info": {}}], defaults=defaults,
                  HOME=str(home))
    assert by_file[0]["auth"]["auth_source"] == "credential_file", by_file[0]
    missing = run(tmp_path, fake, [{"defender.endpoint.defender_for_cloud_info": {"auth_source": "env"}}],
                  defaults=defaults, AZURE_SUBSCRIPTION_ID=SUBSCRIPTION, AZURE_CLIENT_ID=CLIENT_ID)
    assert "secret and tenant are missing from the AZURE_* environment variables" in missing[0]["msg"]
    assert SECRET not in by_env.output + by_file.output


def test_cli_login(fake, tmp_path):
    """auth_source cli runs `az account get-access-token`: a stand-in az on PATH answers with a fake token."""
    import ssl  # pylint: disable=import-outside-toplevel
    import urllib.parse  # pylint: disable=import-outside-toplevel
    import urllib.request  # pylint: disable=import-outside-toplevel
    data = urllib.parse.urlencode({"client_id": CLIENT_ID, "client_secret": SECRET, "grant_type": "client_credentials",
                                   "scope": "https://management.azure.com/.default"}).encode()
    with urllib.request.urlopen(fake.url + "/" + TENANT + "/oauth2/v2.0/token", data,
                                context=ssl.create_default_context(cafile=fake.ca)) as answer:
        issued = json.loads(answer.read())["access_token"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    az = bin_dir / "az"
    az.write_text("#!/bin/sh\necho \"$@\" >> {0}/az-args\ncat <<'EOF'\n{1}\nEOF\n".format(tmp_path, json.dumps({
        "accessToken": issued, "expiresOn": "2099-01-01 00:00:00.000000", "expires_on": 4070908800,
        "subscription": SUBSCRIPTION, "tenant": TENANT, "tokenType": "Bearer"})))
    az.chmod(0o755)
    defaults = {k: v for k, v in auth_args(fake).items() if k not in ("client_id", "secret", "tenant")}
    import os  # pylint: disable=import-outside-toplevel
    result = run(tmp_path, fake, [{"defender.endpoint.defender_for_cloud_info": {"auth_source": "cli"}}],
                 defaults=defaults, PATH="{0}:{1}".format(bin_dir, os.environ["PATH"]), HOME=str(tmp_path))
    assert result[0]["auth"]["auth_source"] == "cli", result[0]
    assert "account get-access-token" in (tmp_path / "az-args").read_text()
    assert "--resource https://management.azure.com" in (tmp_path / "az-args").read_text()
    assert len(fake.arm_requests()) == 5


def test_missing_sdk_is_one_sentence(fake, tmp_path):
    result = run(tmp_path, fake, [task(plan="P2")], interpreter="/usr/bin/python3")
    if not result[0].get("failed"):
        pytest.skip("/usr/bin/python3 has the Azure SDKs")
    assert "install azure-identity and azure-mgmt-security (requirements.txt" in result[0]["msg"], result[0]
    assert fake.requests() == []
