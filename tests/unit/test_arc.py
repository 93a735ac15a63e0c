"""arc_info's pieces without a server: which machines the arguments name, the SDK's models read (fields under
.properties in azure-mgmt-hybridcompute 10.x), which extension is the Defender for Endpoint one and in what state,
the sentences, and the wait's bound on a virtual clock (the real wait runs in tests/integration/test_arc_info.py)."""

from __future__ import annotations

import types

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import _arc, azure_errors

models = pytest.importorskip("azure.mgmt.hybridcompute.models", reason="azure-mgmt-hybridcompute is not installed")

SUB = "20ff7fc3-e762-44dd-bd96-b71116dcdc23"
RG = "arc-servers"


def machine(os_type="windows", status="Connected", **props):
    props.update(osType=os_type, osName=os_type, status=status, provisioningState="Succeeded",
                 lastStatusChange="2026-11-30T08:12:41.3520000Z", agentVersion="1.58.03228.2572")
    return models.Machine({"id": _arc.Target(SUB, RG, "web-01").id, "name": "web-01", "location": "westeurope",
                           "tags": {"environment": "production"}, "properties": props})


def extension(name, publisher=_arc.MDE_PUBLISHER, ext_type=None, state="Succeeded", status=None):
    return models.MachineExtension({
        "id": "/subscriptions/{0}/resourceGroups/{1}/providers/Microsoft.HybridCompute/Machines/web-01/Extensions/"
              "{2}".format(SUB, RG, name),
        "name": name, "type": "Microsoft.HybridCompute/machines/extensions", "location": "westeurope",
        "properties": {"publisher": publisher, "type": ext_type or name, "typeHandlerVersion": "1.0.10.2",
                       "provisioningState": state, "settings": {"azureResourceId": "x"},
                       "instanceView": {"name": name, "type": ext_type or name, "typeHandlerVersion": "1.0.10.2",
                                        "status": status if status is not None else {}}}})


def view(mach, *extensions):
    return _arc.machine_view(_arc.Target(SUB, RG, "web-01"), mach, list(extensions))


def test_targets_from_names_and_ids_once_each():
    rid = "/subscriptions/{0}/resourceGroups/{1}/providers/Microsoft.HybridCompute/machines/db-01".format(SUB, RG)
    found = _arc.targets(SUB, RG, ["web-01", "db-01"], [rid, rid.lower().replace("db-01", "DB-01")])
    assert [(t.sub, t.rg, t.name) for t in found] == [(SUB, RG, "web-01"), (SUB, RG, "db-01")]
    other = "30ff7fc3-e762-44dd-bd96-b71116dcdc24"
    only_ids = _arc.targets(SUB, None, [], [rid.replace(SUB, other)[1:]])          # no leading slash
    assert [(t.sub, t.name) for t in only_ids] == [(other, "db-01")]
    assert only_ids[0].id == "/subscriptions/{0}/resourceGroups/{1}/providers/Microsoft.HybridCompute/machines/" \
                             "db-01".format(other, RG)


@pytest.mark.parametrize("rg, names, ids, expect", [
    (None, ["web-01"], [], "names needs resource_group"),
    (None, [], [], "give the machines to read"),
    (RG, [""], [], "cannot be the name of an Arc machine"),
    (RG, ["web 01"], [], "cannot be the name of an Arc machine"),
    ("group.", ["web-01"], [], "not ending in a period"),
    ("g" * 91, ["web-01"], [], "1 to 90 letters"),
    (None, [], ["/subscriptions/{0}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/v".format(SUB)],
     "is not an Arc machine id"),
    (None, [], ["/subscriptions/{0}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/a/extensions/b"
                .format(SUB)], "is not an Arc machine id"),
    (None, [], ["/subscriptions/{subscriptionId}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/a"],
     "does not hold a subscription id"),
])
def test_targets_refused(rg, names, ids, expect):
    with pytest.raises(_arc.ArcError, match=expect.replace("(", r"\(")):
        _arc.targets(SUB, rg, names, ids)


def test_machine_fields_come_from_properties_and_enums_read_as_the_service_spells_them():
    got = view(machine(status="Disconnected", errorDetails=[{"code": "AZCM0026", "message": "Network error"}]))
    assert got["status"] == "Disconnected" and str(got["status"]) == "Disconnected"   # not StatusTypes.DISCONNECTED
    assert got["last_status_change"].startswith("2026-11-30T08:12:41")
    assert got["error_details"] == [{"code": "AZCM0026", "message": "Network error"}]
    assert (got["os_type"], got["agent_version"], got["tags"]) == ("windows", "1.58.03228.2572",
                                                                   {"environment": "production"})


def test_flattened_models_of_older_sdks_are_read_too():
    flat = types.SimpleNamespace(id="/x", location="westeurope", tags=None, properties=None, status="Connected",
                                 os_type="linux", os_name="linux", agent_version="1.40", last_status_change=None,
                                 error_details=None, os_sku=None, os_version=None, provisioning_state="Succeeded")
    got = _arc.machine_view(_arc.Target(SUB, RG, "web-01"), flat, [])
    assert (got["status"], got["os_type"], got["mde_extension"]["type"]) == ("Connected", "linux", "MDE.Linux")


def test_extension_view_never_holds_settings():
    status = {"code": "success", "level": "Information", "displayStatus": "Provisioning succeeded", "message": "ok",
              "time": "2026-11-30T09:02:11Z"}
    ext = _arc.extension_view(extension("MDE.Windows", status=status))
    assert ext == {"name": "MDE.Windows", "publisher": _arc.MDE_PUBLISHER, "type": "MDE.Windows",
                   "type_handler_version": "1.0.10.2", "provisioning_state": "Succeeded",
                   "status": {"code": "success", "level": "Information", "display_status": "Provisioning succeeded",
                              "message": "ok", "time": ext["status"]["time"]}}
    assert ext["status"]["time"].startswith("2026-11-30T09:02:11")


@pytest.mark.parametrize("os_type, extensions, state, kind", [
    ("windows", [extension("MDE.Windows")], "succeeded", "MDE.Windows"),
    ("Linux", [extension("MDE.Linux")], "succeeded", "MDE.Linux"),
    ("windows", [extension("MDE.Linux")], "missing", "MDE.Windows"),            # the other OS's extension
    ("windows", [extension("MDE.Windows", publisher="Contoso.Security")], "missing", "MDE.Windows"),
    ("windows", [extension("mde.windows", publisher=_arc.MDE_PUBLISHER.lower())], "succeeded", "MDE.Windows"),
    ("windows", [extension("MDE.Windows", state="Creating")], "pending", "MDE.Windows"),
    ("windows", [extension("MDE.Windows", state="Updating")], "pending", "MDE.Windows"),
    ("windows", [extension("MDE.Windows", state="Failed")], "failed", "MDE.Windows"),
    ("windows", [extension("MDE.Windows", state="Canceled")], "failed", "MDE.Windows"),
    ("windows", [extension("DefenderForEndpoint", ext_type="MDE.Windows")], "succeeded", "MDE.Windows"),
    (None, [extension("MDE.Linux")], "succeeded", "MDE.Linux"),                 # OS unknown: either will do
    (None, [], "missing", None),
])
def test_which_extension_is_defender_for_endpoint(os_type, extensions, state, kind):
    got = view(machine(os_type=os_type), *extensions)["mde_extension"]
    assert (got["state"], got["type"], got["ready"]) == (state, kind, state == "succeeded")
    assert got["present"] is (state != "missing")


def stuck(state, status="Connected", message=None, exists=True):
    exts = {"missing": [], "pending": [extension("MDE.Windows", state="Creating",
                                                 status={"message": message} if message else None)],
            "failed": [extension("MDE.Windows", state="Failed", status={"message": message} if message else None)]}
    got = view(machine(status=status), *exts.get(state, [])) if exists else _arc.missing_view(
        _arc.Target(SUB, RG, "web-01"))
    return _arc.stuck_sentence(got, 12.4)


def test_sentences_say_where_it_is_stuck_and_what_to_check():
    where = "Arc machine web-01 (resource group {0}, subscription {1})".format(RG, SUB)
    assert stuck("failed", message="exit code 1603") == (
        "the Defender for Endpoint extension MDE.Windows on {0} is Failed: exit code 1603; the extension's own log "
        "on the server tells more".format(where))
    assert "is Failed: no message from the extension" in stuck("failed")
    assert stuck("pending", message="Installing") == (
        "the Defender for Endpoint extension MDE.Windows on {0} is still Creating after 12 s (Installing); "
        "Defender for Cloud is deploying it: wait longer (wait_timeout) or run again later".format(where))
    missing = stuck("missing")
    assert missing.startswith("the Defender for Endpoint extension MDE.Windows (publisher "
                              "Microsoft.Azure.AzureDefenderForServers) never appeared on " + where + " after 12 s")
    assert "Defender for Servers (Plan 1 or Plan 2) is on for subscription " + SUB in missing
    offline = stuck("missing", status="Expired")
    assert "the machine is Expired since 2026-11-30" in offline and "azcmagent show" in offline
    assert "Defender for Servers" not in offline                   # the agent first
    assert stuck("missing", exists=False) == (
        "{0} does not exist (still not after 12 s): connect the server to Azure Arc first (azcmagent connect), "
        "with this name and resource group".format(where))
    for sentence in (stuck("failed"), stuck("pending"), missing, offline):
        assert "\n" not in sentence and not sentence.endswith(".")


class Clock:
    """Virtual time: sleep advances it, each read costs `cost` seconds."""

    def __init__(self, cost=0.2):
        self.now, self.cost, self.sleeps = 1000.0, cost, []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def reader(clock, states):
    """read(target) answering the next of states (the last one stays) for each target."""
    seen = {}

    def read(target):
        clock.now += clock.cost
        index = seen.get(target.id, 0)
        seen[target.id] = index + 1
        state = states[target.name][min(index, len(states[target.name]) - 1)]
        exts = [] if state == "missing" else [extension("MDE.Windows", state=state)]
        return _arc.machine_view(target, machine(), exts)
    return read


def test_wait_is_bounded_by_the_timeout():
    clock = Clock()
    wanted = [_arc.Target(SUB, RG, "web-01")]
    views, polls, waited, sentences = _arc.wait_for_mde(reader(clock, {"web-01": ["missing"]}), wanted, 10, 3,
                                                        clock.clock, clock.sleep)
    assert 10 <= waited <= 10 + clock.cost + 1e-9 and polls == 5      # the last round starts before the deadline
    assert clock.sleeps[:3] == [3, 3, 3] and clock.sleeps[-1] < 3          # the last sleep ends at the deadline
    assert len(sentences) == 1 and "never appeared" in sentences[0] and not views[0]["mde_extension"]["ready"]


def test_wait_ends_early_on_succeeded_or_failed_and_reads_only_what_is_pending():
    clock = Clock()
    names = ["web-01", "web-02", "web-03"]
    reads = []
    read = reader(clock, {"web-01": ["missing", "Creating", "Succeeded"], "web-02": ["Failed"],
                          "web-03": ["Succeeded"]})

    def counting(target):
        reads.append(target.name)
        return read(target)
    views, polls, dummy, sentences = _arc.wait_for_mde(counting, [_arc.Target(SUB, RG, n) for n in names], 600, 30,
                                                       clock.clock, clock.sleep)
    assert polls == 3 and reads == ["web-01", "web-02", "web-03", "web-01", "web-01"]
    assert [v["mde_extension"]["state"] for v in views] == ["succeeded", "failed", "succeeded"]
    assert len(sentences) == 1 and "web-02" in sentences[0] and "is Failed" in sentences[0]
    assert clock.sleeps == [30, 30]


def test_timeout_zero_reads_once_and_never_sleeps():
    clock = Clock()
    dummy, polls, dummy2, sentences = _arc.wait_for_mde(reader(clock, {"web-01": ["Creating"]}),
                                                        [_arc.Target(SUB, RG, "web-01")], 0, 30, clock.clock,
                                                        clock.sleep)
    assert polls == 1 and clock.sleeps == [] and "still Creating" in sentences[0]


def test_arm_error_hint_replaces_the_defender_for_cloud_roles_only_when_given():
    exc = types.SimpleNamespace(status_code=403, error=types.SimpleNamespace(code="AuthorizationFailed",
                                                                             message="No access."), message="")
    auth = {"subscription_id": SUB, "arm_endpoint": "https://management.azure.com", "retries": 4}
    arc = azure_errors.arm_error(exc, "read Arc machine web-01", auth, permission_hint=_arc.READ_PERMISSION)
    assert arc == ("could not read Arc machine web-01: the identity lacks permission (403 AuthorizationFailed: No "
                   "access); " + _arc.READ_PERMISSION)
    assert "Security Admin or Owner" in azure_errors.arm_error(exc, "set the plan", auth)
    exc.status_code, exc.error.code = 409, "MissingSubscriptionRegistration"
    assert "--namespace Microsoft.HybridCompute)" in azure_errors.arm_error(exc, "read", auth,
                                                                            namespace="Microsoft.HybridCompute")
    assert "--namespace Microsoft.Security)" in azure_errors.arm_error(exc, "read", auth)
