"""Microsoft's example payloads (../shared/azure-examples/security, from Azure/azure-rest-api-specs) replayed through
the local HTTPS fake to defender_for_cloud and defender_for_cloud_info with the real SDK: booleans as strings,
unknown fields, ids without a leading slash, partial success. Skipped when the examples are absent."""

from __future__ import annotations

import json
import pathlib

import pytest

from azure_fake import SUBSCRIPTION, FakeAzure
from azure_fake.harness import run
from azure_fake.server import API_VERSIONS

EXAMPLES = pathlib.Path(__file__).resolve().parents[3] / "shared" / "azure-examples" / "security"
BASE = "/subscriptions/{0}/providers/Microsoft.Security".format(SUBSCRIPTION)
PRICING = BASE + "/pricings/VirtualMachines"
VA = BASE + "/serverVulnerabilityAssessmentsSettings/azureServersSetting"
FLAGS = {"WDATP": "mde_integration", "WDATP_UNIFIED_SOLUTION": "unified_solution",
         "WDATP_EXCLUDE_LINUX_PUBLIC_PREVIEW": "linux"}
STANDARD = [PRICING] + [BASE + "/settings/" + name for name in FLAGS] + [VA]

pytestmark = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="../shared/azure-examples is absent: Microsoft's example "
                                                              "payloads are not replayed (the project's own fixtures "
                                                              "still run in test_defender_for_cloud.py)")


def example(name):
    return json.loads(next(EXAMPLES.glob("*/" + name)).read_text())


def body(name, status="200"):
    return example(name)["responses"][status].get("body")


def expected_plan(props):
    return "off" if props["pricingTier"] == "Free" else props.get("subPlan") or "P2"


def _path(resource_id):
    return "/" + resource_id.lstrip("/")


class Cases:
    """Each case is one task; every GET it sends is answered from the queue built here, in task order."""

    def __init__(self, fake):
        self.fake, self.items = fake, []
        self.defaults = {p: fake.resource(p) for p in STANDARD}

    def add(self, name, module, args, answers, check, resources=()):
        for path in STANDARD + [r + "/providers/Microsoft.Security/pricings/VirtualMachines" for r in resources]:
            given = answers.get(("GET", path.lower()))
            if given is None and path not in STANDARD:
                continue                          # the fake answers: the plan inherited from the subscription
            if given is None:
                given = (200, self.defaults[path]) if self.defaults.get(path) else \
                    (404, {"error": {"code": "NotFound", "message": "Not found."}})
            self.fake.reply_once("GET", path, given[0], given[1])
        for (method, path), (status, payload) in answers.items():
            if method != "GET":
                self.fake.reply_once(method, path, status, payload)
        self.items.append((name, {"defender.endpoint." + module: args}, check))


def g(path, payload):
    return {("GET", path.lower()): (200, payload)}


def test_microsoft_examples_replay(tmp_path):
    fake = FakeAzure(tmp_path / "azure").start()
    try:
        _replay(fake, tmp_path)
    finally:
        fake.stop()


def _replay(fake, tmp_path):  # noqa: C901  one table of cases
    cases = Cases(fake)
    info = "defender_for_cloud_info"

    got = body("GetPricingByNameVirtualMachines_example.json")

    def check_get(r):
        s = r["subscriptions"][0]
        assert (s["plan"], s["pricing_tier"], s["enforce"]) == ("P2", "Standard", False)
        assert s["extensions"] == [{"name": "AgentlessVmScanning", "enabled": True, "operation_status": None,
                                    "properties": got["properties"]["extensions"][0]["additionalExtensionProperties"]}]
    cases.add("GetPricingByName", info, {}, g(PRICING, got), check_get)

    for listing in ("ListPricings_example.json", "ListPricingsWithPlanFilter_example.json"):
        for item in body(listing)["value"]:
            if item["name"].lower() != "virtualmachines":
                continue
            cases.add(listing, info, {}, g(PRICING, item),
                      lambda r, p=item["properties"]: r["subscriptions"][0]["plan"] == expected_plan(p) or
                      pytest.fail("plan of {0}".format(p)))

    resource_items = [body("GetResourcePricingByNameVirtualMachines_example.json")]
    resource_items += [i for i in body("ListResourcePricings_example.json")["value"]
                       if i["name"].lower() == "virtualmachines"]
    for item in resource_items:
        rid = _path(item["id"].split("/providers/Microsoft.Security/")[0])

        def check_resource(r, item=item, rid=rid):
            res = r["subscriptions"][0]["resources"][0]
            assert res["id"] == rid and res["plan"] == expected_plan(item["properties"])
            assert res["inherited"] is (str(item["properties"].get("inherited")).lower() == "true")
        cases.add("resource pricing " + rid, info, {"resources": [rid]},
                  g(rid + "/providers/Microsoft.Security/pricings/VirtualMachines", item), check_resource,
                  resources=[rid])

    wdatp = body("GetSetting_example.json")
    cases.add("GetSetting", info, {}, g(BASE + "/settings/WDATP", wdatp),
              lambda r: r["subscriptions"][0]["mde_integration"] is True or pytest.fail("WDATP"))
    listed = {i["name"]: i for i in body("GetSettings_example.json")["value"]}
    answers = {}
    for name in FLAGS:
        if name in listed:
            answers.update(g(BASE + "/settings/" + name, listed[name]))

    def check_settings(r):
        s = r["subscriptions"][0]
        for name, key in FLAGS.items():
            if name in listed:
                value = listed[name]["properties"]["enabled"]
                assert s[key] is ((not value) if key == "linux" else value), (name, s)
    cases.add("GetSettings", info, {}, answers, check_settings)

    for name in ("GetServerVulnerabilityAssessmentsSetting_example.json",):
        cases.add(name, info, {}, g(VA, body(name)),
                  lambda r: r["subscriptions"][0]["vulnerability_assessment"] == "mdvm" or pytest.fail("va"))
    for item in body("ListServerVulnerabilityAssessmentsSettings_example.json")["value"]:
        cases.add("ListServerVulnerabilityAssessmentsSettings", info, {}, g(VA, item),
                  lambda r: r["subscriptions"][0]["vulnerability_assessment"] == "mdvm" or pytest.fail("va list"))

    put = example("PutPricingVMsByName_example.json")

    def check_put(r):
        assert r["changed"] is True and r["state"]["plan"] == "P2", r
        names = {e["name"]: e for e in r["state"]["extensions"]}
        assert names["MdeDesignatedSubscription"]["enabled"] is False
        assert names["AgentlessVmScanning"]["operation_status"]["code"] == "Succeeded"
    cases.add("PutPricingVMsByName", "defender_for_cloud", {"plan": "P2"},
              {("PUT", PRICING.lower()): (200, put["responses"]["200"]["body"])}, check_put)

    put_resource = example("PutResourcePricingByNameVirtualMachines_example.json")
    rid = _path(put_resource["parameters"]["scopeId"])

    def check_put_resource(r):
        assert r["state"]["resources"][0]["plan"] == "P1" and r["state"]["resources"][0]["inherited"] is False
    cases.add("PutResourcePricing", "defender_for_cloud", {"resources": [rid]},
              {("PUT", (rid + "/providers/Microsoft.Security/pricings/VirtualMachines").lower()):
               (201, put_resource["responses"]["201"]["body"])}, check_put_resource, resources=[rid])

    partial = body("PutPricingByNamePartialSuccess_example.json")

    def check_partial(r):
        assert r["failed"] is True
        assert "Defender for Cloud reports extension AgentlessVmScanning (Failed find dedicated first party " \
               "application client ID for extension) as failed" in r["msg"], r["msg"]
        assert any("AgentlessDiscoveryForKubernetes" in w for w in r.get("warnings", [])), r
    cases.add("PutPricingByNamePartialSuccess", "defender_for_cloud",
              {"plan": "P2", "extensions": [{"name": "AgentlessVmScanning"}]},
              {("PUT", PRICING.lower()): (200, partial)}, check_partial)

    cases.add("UpdateSetting", "defender_for_cloud", {"mde_integration": True},
              {("PUT", (BASE + "/settings/WDATP").lower()): (200, body("UpdateSetting_example.json"))},
              lambda r: r["state"]["mde_integration"] is True or pytest.fail("update setting"))
    cases.add("PutServerVulnerabilityAssessmentsSetting", "defender_for_cloud", {"vulnerability_assessment": "mdvm"},
              {("PUT", VA.lower()): (201, body("PutServerVulnerabilityAssessmentsSetting_example.json", "201"))},
              lambda r: r["state"]["vulnerability_assessment"] == "mdvm" or pytest.fail("put va"))
    deleted = example("DeleteServerVulnerabilityAssessmentsSetting_example.json")
    for status in deleted["responses"]:
        answers = g(VA, body("GetServerVulnerabilityAssessmentsSetting_example.json"))
        answers[("DELETE", VA.lower())] = (int(status), deleted["responses"][status].get("body"))
        cases.add("DeleteServerVulnerabilityAssessmentsSetting " + status, "defender_for_cloud",
                  {"vulnerability_assessment": "off"}, answers,
                  lambda r: (r["changed"] and r["state"]["vulnerability_assessment"] is None) or pytest.fail("del"))

    result = run(tmp_path, fake, [t for dummy, t, dummy2 in cases.items])
    for (name, dummy, check), answer in zip(cases.items, result.results):
        if name != "PutPricingByNamePartialSuccess":
            assert not answer.get("failed"), (name, answer.get("msg"))
        check(answer)
    leftover = {k: v for k, v in fake.load()["replies"].items() if v}
    assert not leftover, "answers not asked for: {0}".format(sorted(leftover))
    # Every example's api-version is the one the SDK sent for that resource type.
    sent = {}
    for request in fake.arm_requests():
        kind = next(k for k in API_VERSIONS if "/{0}/".format(k.lower()) in request["path"].lower())
        sent.setdefault(kind, set()).add(request["api_version"])
    for path in EXAMPLES.glob("*/*.json"):
        kind = path.parent.name
        assert sent[kind] == {json.loads(path.read_text())["parameters"]["api-version"]}, (path.name, sent[kind])
