"""Microsoft's HybridCompute example payloads (../shared/azure-examples/hybridcompute, from Azure/azure-rest-api-specs)
replayed through the local HTTPS fake to arc_info with the real azure-mgmt-hybridcompute: nulls where a connected
machine has values, placeholders in ids, a "type" placeholder, a Creating extension with an empty status, extension
ids with capitalised segments. Skipped when the examples are absent."""

from __future__ import annotations

import copy
import json
import pathlib

import pytest

from azure_fake import SUBSCRIPTION, FakeAzure
from azure_fake.harness import run
from azure_fake.server import MDE_PUBLISHER, machine_id

EXAMPLES = pathlib.Path(__file__).resolve().parents[3] / "shared" / "azure-examples" / "hybridcompute"

pytestmark = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="../shared/azure-examples is absent: Microsoft's "
                                                              "HybridCompute example payloads are not replayed (the "
                                                              "project's own fixtures still run in test_arc_info.py)")

RG = "myResourceGroup"


def example(name):
    return json.loads(next(EXAMPLES.glob("*/" + name)).read_text())


def body(name):
    return example(name)["responses"]["200"]["body"]


@pytest.fixture
def fake(tmp_path):
    server = FakeAzure(tmp_path / "azure").start()
    server.add_resource_group(RG)
    yield server
    server.stop()


def test_machine_get_and_extension_list(fake, tmp_path):
    get = example("Machines_Get.json")
    name = get["parameters"]["machineName"]
    assert get["parameters"]["resourceGroupName"] == RG
    path = machine_id(SUBSCRIPTION, RG, name)
    listed = body("Extension_List.json")
    fake.reply_once("GET", path, 200, get["responses"]["200"]["body"])
    fake.reply_once("GET", path + "/extensions", 200, listed)
    result = run(tmp_path, fake, [{"defender.endpoint.arc_info": {"resource_group": RG, "names": [name]}}])
    assert result[0]["failed"] is False, result[0]
    got = result[0]["machines"][0]
    props = get["responses"]["200"]["body"]["properties"]
    assert got["exists"] is True and got["id"] == get["responses"]["200"]["body"]["id"]   # placeholders as given
    assert got["location"] == "eastus2euap" and got["tags"] == {}                          # "tags": null
    assert (got["status"], got["os_type"], got["agent_version"], got["last_status_change"]) == (None, None, None, None)
    assert got["provisioning_state"] == props["provisioningState"] and got["error_details"] == []
    want = [(e["name"], e["properties"]["publisher"], e["properties"]["type"], e["properties"]["typeHandlerVersion"],
             e["properties"]["provisioningState"]) for e in listed["value"]]
    assert [(e["name"], e["publisher"], e["type"], e["type_handler_version"], e["provisioning_state"])
            for e in got["extensions"]] == want
    custom, creating = got["extensions"]
    status = listed["value"][0]["properties"]["instanceView"]["status"]
    assert custom["status"]["message"] == status["message"] and custom["status"]["level"] == status["level"]
    assert custom["status"]["time"].startswith(status["time"][:19])
    assert creating["status"] is None                                        # "status": {} while Creating
    # No OS type: either MDE extension would do, and neither is there.
    assert got["mde_extension"]["type"] is None and got["mde_extension"]["state"] == "missing"
    assert fake.load()["replies"] == {"GET " + path.lower(): [], "GET " + (path + "/extensions").lower(): []}


def test_list_by_resource_group_items_and_extension_get_as_machines(fake, tmp_path):
    """Each machine of Machines_ListByResourceGroup answered to its GET (one id has {subscription-id}), with
    Extension_Get's extension (its "type": "string" placeholder) as the only extension."""
    items = body("Machines_ListByResourceGroup.json")["value"]
    ext = body("Extension_Get.json")
    for item in items:
        path = machine_id(SUBSCRIPTION, RG, item["name"])
        fake.reply_once("GET", path, 200, item)
        fake.reply_once("GET", path + "/extensions", 200, {"value": [ext], "nextLink": None})
    task = {"defender.endpoint.arc_info": {"resource_group": RG, "names": [i["name"] for i in items]}}
    result = run(tmp_path, fake, [task])
    assert result[0]["failed"] is False, result[0]
    assert [m["id"] for m in result[0]["machines"]] == [i["id"] for i in items]
    for got in result[0]["machines"]:
        assert got["extensions"] == [{
            "name": ext["name"], "publisher": ext["properties"]["publisher"], "type": "string",
            "type_handler_version": ext["properties"]["typeHandlerVersion"],
            "provisioning_state": ext["properties"]["provisioningState"],
            "status": {"code": "success", "level": "Information", "display_status": "Provisioning succeeded",
                       "message": ext["properties"]["instanceView"]["status"]["message"],
                       "time": got["extensions"][0]["status"]["time"]}}]
        assert got["mde_extension"]["present"] is False


def test_wait_on_the_example_machine_until_an_mde_extension_of_the_example_shape_succeeds(fake, tmp_path):
    """Extension_List first; then the same list with an MDE.Windows extension made from Extension_Get's shape
    (publisher and type changed in this test, the files untouched)."""
    get = body("Machines_Get.json")
    path = machine_id(SUBSCRIPTION, RG, get["name"])
    listed = body("Extension_List.json")
    mde = copy.deepcopy(body("Extension_Get.json"))
    mde["name"] = "MDE.Windows"
    mde["id"] = mde["id"].rsplit("/", 1)[0] + "/MDE.Windows"
    mde["properties"].update(publisher=MDE_PUBLISHER, type="MDE.Windows", typeHandlerVersion="1.0.10.2")
    for answer in (listed, {"value": listed["value"] + [mde]}):
        fake.reply_once("GET", path, 200, get)
        fake.reply_once("GET", path + "/extensions", 200, answer)
    result = run(tmp_path, fake, [{"defender.endpoint.arc_info": {
        "resource_group": RG, "names": [get["name"]], "wait_for_mde_extension": True, "wait_timeout": 20,
        "wait_interval": 1}}])
    assert result[0]["failed"] is False, result[0]
    assert result[0]["polls"] == 2 and result[0]["mde_extension_ready"] is True
    summary = result[0]["machines"][0]["mde_extension"]
    assert (summary["type"], summary["name"], summary["state"]) == ("MDE.Windows", "MDE.Windows", "succeeded")
