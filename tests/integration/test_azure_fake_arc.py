# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The HTTPS fake of ARM as the Connected Machine agent meets it: Arc machine PUT / DELETE with ARM's answers
(200, 401, 403, 409, 404, 400), and Defender for Cloud deploying MDE.Windows / MDE.Linux on a machine of a
subscription on Defender for Servers (Creating, then Succeeded or the Failed outcome a test sets). Over urllib, and
with the real azure-identity and azure-mgmt-hybridcompute 10.x client (machines.create_or_update, begin_delete)."""

from __future__ import annotations

import concurrent.futures
import datetime
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request

import pytest

from azure_fake import CLIENT_ID, SECRET, SUBSCRIPTION, TENANT, FakeAzure
from azure_fake.server import MDE_PUBLISHER, ONBOARDING_ROLE, machine_id

RG = "arc-servers"
API = "2024-07-10"


@pytest.fixture
def fake(tmp_path):
    server = FakeAzure(tmp_path / "azure").start()
    server.add_resource_group(RG)
    yield server
    server.stop()


def _context(fake):
    return ssl.create_default_context(cafile=fake.ca)


def sign_in(fake, scope="https://management.azure.com/.default"):
    """A token from the fake's token endpoint (the client-credentials grant), as a controller would get it."""
    data = urllib.parse.urlencode({"client_id": CLIENT_ID, "client_secret": SECRET, "grant_type": "client_credentials",
                                   "scope": scope}).encode()
    with urllib.request.urlopen(fake.url + "/" + TENANT + "/oauth2/v2.0/token", data,
                                context=_context(fake)) as answer:
        return json.loads(answer.read())["access_token"]


def call(fake, method, path, token=None, body=None, api=API):
    """(status, JSON body or None) of one ARM request."""
    url = "{0}{1}?api-version={2}".format(fake.url, path, api)
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, context=_context(fake)) as answer:
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


def agent_body(os_type="windows", location="westeurope", tags=None, **props):
    """What azcmagent connect sends (the lab's agent model sends the same fields)."""
    properties = {"osType": os_type, "osName": os_type,
                  "osVersion": "10.0.20348.2849" if os_type == "windows" else "6.8.0-45-generic",
                  "agentVersion": "1.47.02889.1867", "vmId": "4c4c4544-0043-4810-8051-b4c04f4b5931",
                  "clientPublicKey": "MIIBCgKCAQEAfakeKeyForTests"}
    properties.update(props)
    body = {"location": location, "identity": {"type": "SystemAssigned"}, "properties": properties}
    if tags is not None:
        body["tags"] = tags
    return body


def test_put_creates_then_updates_the_machine(fake):
    """200 for the new machine and for the update (Machines_CreateOrUpdate's only success code); what is stored
    has machine_body's shape with the agent's facts and status Connected."""
    token = sign_in(fake)
    path = machine_id(SUBSCRIPTION, RG, "web-01")
    before = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=2)
    status, created = call(fake, "PUT", path, token, agent_body(location="West Europe", tags={"env": "lab"}))
    assert status == 200, created
    props = created["properties"]
    assert created["id"] == path and created["name"] == "web-01" and created["location"] == "westeurope"
    assert created["tags"] == {"env": "lab"} and created["identity"]["type"] == "SystemAssigned"
    assert (props["status"], props["agentVersion"], props["osName"], props["osType"], props["osVersion"],
            props["vmId"]) == ("Connected", "1.47.02889.1867", "windows", "windows", "10.0.20348.2849",
                               "4c4c4544-0043-4810-8051-b4c04f4b5931")
    changed = datetime.datetime.strptime(props["lastStatusChange"][:26], "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.timezone.utc)
    assert before <= changed <= datetime.datetime.now(datetime.timezone.utc)
    assert fake.resource(path) == created
    status, read = call(fake, "GET", path, token)
    assert (status, read) == (200, created)
    status, updated = call(fake, "PUT", path, token, agent_body(tags={"env": "prod"}, agentVersion="1.48.0"))
    assert status == 200 and updated["tags"] == {"env": "prod"}
    assert updated["properties"]["agentVersion"] == "1.48.0"
    put = [r for r in fake.arm_requests() if r["method"] == "PUT"]
    assert [r["status"] for r in put] == [200, 200]
    assert put[0]["body"]["properties"]["osType"] == "windows" and put[0]["token_scope"].startswith("https://")


def test_put_refusals_in_arms_words(fake):
    """No token, a token for another audience, a client without the onboarding role, an unregistered provider, a
    missing resource group, a body without location, an api-version ARM does not know: one answer each."""
    path = machine_id(SUBSCRIPTION, RG, "web-01")
    token = sign_in(fake)
    assert call(fake, "PUT", path, None, agent_body())[1]["error"]["code"] == "InvalidAuthenticationToken"
    status, body = call(fake, "PUT", path, "not-a-token-of-the-fake", agent_body())
    assert (status, body["error"]["code"]) == (401, "InvalidAuthenticationToken")
    status, body = call(fake, "PUT", path, sign_in(fake, "https://graph.microsoft.com/.default"), agent_body())
    assert (status, body["error"]["code"]) == (401, "InvalidAuthenticationToken")
    assert "audience" in body["error"]["message"]

    status, body = call(fake, "PUT", path, token, {"properties": {"osType": "windows"}})
    assert (status, body["error"]["code"]) == (400, "LocationRequired")
    status, body = call(fake, "PUT", path, token, agent_body(), api="2019-12-12")
    assert (status, body["error"]["code"]) == (400, "InvalidApiVersionParameter")
    status, body = call(fake, "PUT", machine_id(SUBSCRIPTION, "no-such-rg", "web-01"), token, agent_body())
    assert (status, body["error"]["code"]) == (404, "ResourceGroupNotFound")
    assert "no-such-rg" in body["error"]["message"]

    fake.unregister_provider(SUBSCRIPTION)
    status, body = call(fake, "PUT", path, token, agent_body())
    assert (status, body["error"]["code"]) == (409, "MissingSubscriptionRegistration")
    assert "Microsoft.HybridCompute" in body["error"]["message"]
    assert body["error"]["details"][0]["target"] == "Microsoft.HybridCompute"

    fake.forbid_arc(CLIENT_ID)
    status, body = call(fake, "PUT", path, token, agent_body())
    message = body["error"]["message"]
    assert (status, body["error"]["code"]) == (403, "AuthorizationFailed")
    assert ONBOARDING_ROLE in message and "'Microsoft.HybridCompute/machines/write'" in message
    assert "over scope '/subscriptions/{0}/resourceGroups/{1}'".format(SUBSCRIPTION, RG) in message
    assert CLIENT_ID in message
    assert fake.resource(path) is None
    assert [r["status"] for r in fake.arm_requests()] == [401, 401, 401, 400, 400, 404, 409, 403]


def test_delete_removes_the_machine_and_its_extensions(fake):
    """200 and the machine and its extensions gone (GET 404, the collection empty); 204 when it is absent."""
    token = sign_in(fake)
    keep = fake.put_machine(RG, "keep-01")
    path = machine_id(SUBSCRIPTION, RG, "web-01")
    assert call(fake, "PUT", path, token, agent_body())[0] == 200
    fake.put_extension(path, "MDE.Windows")
    fake.put_extension(path, "AzureMonitorWindowsAgent", publisher="Microsoft.Azure.Monitor")
    assert len(call(fake, "GET", path + "/extensions", token)[1]["value"]) == 2
    assert call(fake, "DELETE", path, token) == (200, None)
    assert call(fake, "GET", path, token)[0] == 404
    assert call(fake, "GET", path + "/extensions", token)[0] == 404
    assert [k for k in fake.load()["resources"] if k.startswith(path.lower())] == []
    assert fake.resource(keep) is not None
    assert call(fake, "DELETE", path, token) == (204, None)
    assert call(fake, "DELETE", keep, token, api="2026-07-15")[0] == 202   # a long-running delete there
    assert fake.resource(keep) is None and call(fake, "DELETE", keep, token, api="2026-07-15")[0] == 204
    keep = fake.put_machine(RG, "keep-02")
    fake.forbid_arc(CLIENT_ID)
    status, body = call(fake, "DELETE", keep, token)
    assert status == 403 and "'Microsoft.HybridCompute/machines/delete'" in body["error"]["message"]
    assert fake.resource(keep) is not None


def _extension(fake, token, machine, name):
    status, body = call(fake, "GET", machine + "/extensions/" + name, token)
    return status, (body or {}).get("properties", {})


def test_defender_for_servers_deploys_the_mde_extension(fake):
    """On Standard: MDE.Windows / MDE.Linux by osType, Creating on the first read, Succeeded from the second; on
    Free: nothing; a re-PUT of a covered machine does not start a second deployment."""
    token = sign_in(fake)
    free = machine_id(SUBSCRIPTION, RG, "free-01")
    call(fake, "PUT", free, token, agent_body())
    assert call(fake, "GET", free + "/extensions", token)[1]["value"] == []
    fake.set_pricing("Standard")
    win, lnx = machine_id(SUBSCRIPTION, RG, "web-01"), machine_id(SUBSCRIPTION, RG, "db-01")
    assert call(fake, "PUT", win, token, agent_body())[0] == 200
    assert call(fake, "PUT", lnx, token, agent_body("linux", location="northeurope"))[0] == 200
    status, first = _extension(fake, token, win, "MDE.Windows")
    assert (status, first["provisioningState"], first["publisher"], first["type"]) == (
        200, "Creating", MDE_PUBLISHER, "MDE.Windows")
    assert first["instanceView"]["status"] == {}
    for _read in range(2):
        status, then = _extension(fake, token, win, "MDE.Windows")
        assert (status, then["provisioningState"], then["instanceView"]["status"]["code"]) == (
            200, "Succeeded", "success")
    listed = call(fake, "GET", lnx + "/extensions", token)[1]["value"]
    assert [(e["name"], e["location"], e["properties"]["provisioningState"]) for e in listed] == [
        ("MDE.Linux", "northeurope", "Creating")]
    assert _extension(fake, token, lnx, "MDE.Linux")[1]["provisioningState"] == "Succeeded"
    assert _extension(fake, token, lnx, "MDE.Windows")[0] == 404
    assert call(fake, "PUT", win, token, agent_body(agentVersion="1.49.0"))[0] == 200
    assert _extension(fake, token, win, "MDE.Windows")[1]["provisioningState"] == "Succeeded"


def test_failed_outcome_and_resource_level_plan(fake):
    """mde_extension_outcome makes the deployment end Failed with its message; a machine's own Free pricing wins
    over the subscription's Standard one."""
    token = sign_in(fake)
    fake.set_pricing("Standard")
    fake.set_extension_outcome("Web-02", message="Onboarding failed: the proxy refused the connection.")
    path = machine_id(SUBSCRIPTION, RG, "web-02")
    call(fake, "PUT", path, token, agent_body())
    assert _extension(fake, token, path, "MDE.Windows")[1]["provisioningState"] == "Creating"
    _status, ended = _extension(fake, token, path, "MDE.Windows")
    assert ended["provisioningState"] == "Failed"
    assert ended["instanceView"]["status"]["message"] == "Onboarding failed: the proxy refused the connection."
    opted_out = machine_id(SUBSCRIPTION, RG, "lab-03")
    fake.put_resource(opted_out + "/providers/Microsoft.Security/pricings/VirtualMachines",
                      {"properties": {"pricingTier": "Free"}})
    call(fake, "PUT", opted_out, token, agent_body())
    assert call(fake, "GET", opted_out + "/extensions", token)[1]["value"] == []


def test_nothing_logged_holds_the_token(fake):
    """The request log holds no token, not even one a client put in a body (it is redacted there)."""
    token = sign_in(fake)
    minted = fake.issue_token()
    path = machine_id(SUBSCRIPTION, RG, "web-01")
    call(fake, "PUT", path, token, agent_body(tags={"note": token}))
    call(fake, "PUT", machine_id(SUBSCRIPTION, RG, "web-02"), minted, agent_body())
    call(fake, "DELETE", path, token)
    logged = fake.log_path.read_text()
    assert token not in logged and minted not in logged and SECRET not in logged
    assert "<redacted>" in logged
    assert [r["status"] for r in fake.arm_requests()] == [200, 200, 200]


def test_hosts_connecting_at_once_lose_no_machine(fake):
    """16 agents PUT at the same moment (a fleet run with forks): every machine is stored, every deployment started."""
    token = sign_in(fake)
    fake.set_pricing("Standard")
    names = ["host-{0:02d}".format(i) for i in range(16)]
    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        statuses = list(pool.map(lambda n: call(fake, "PUT", machine_id(SUBSCRIPTION, RG, n), token,
                                                agent_body())[0], names))
    assert statuses == [200] * len(names)
    state = fake.load()
    assert all(fake.resource(machine_id(SUBSCRIPTION, RG, n)) for n in names)
    assert len([k for k in state["timelines"] if k.endswith("/extensions/mde.windows")]) == len(names)


def test_real_hybridcompute_client_creates_and_deletes(fake):
    """azure-mgmt-hybridcompute 10.x: machines.create_or_update (api-version 2026-07-15) and begin_delete (an LRO
    that ends on the 202's Location answering 204) work against the fake, signed in by azure-identity."""
    identity = pytest.importorskip("azure.identity")
    hybrid = pytest.importorskip("azure.mgmt.hybridcompute")
    models = pytest.importorskip("azure.mgmt.hybridcompute.models")
    cred = identity.ClientSecretCredential(TENANT, CLIENT_ID, SECRET, authority=fake.url,
                                           disable_instance_discovery=True, connection_verify=fake.ca)
    client = hybrid.HybridComputeManagementClient(cred, SUBSCRIPTION, base_url=fake.url,
                                                  credential_scopes=["https://management.azure.com/.default"],
                                                  connection_verify=fake.ca, retry_total=0)
    fake.set_pricing("Standard")
    made = client.machines.create_or_update(RG, "sdk-01", models.Machine(
        location="westeurope", tags={"env": "sdk"}, identity=models.ManagedServiceIdentity(type="SystemAssigned"),
        properties=models.MachineProperties(os_type="linux", client_public_key="MIIBCgKCAQEAsdk")))
    assert (made.name, made.location, made.tags, made.properties.status, made.properties.os_type) == (
        "sdk-01", "westeurope", {"env": "sdk"}, "Connected", "linux")
    extensions = list(client.machine_extensions.list(RG, "sdk-01"))
    assert [(e.name, e.properties.provisioning_state) for e in extensions] == [("MDE.Linux", "Creating")]
    client.machines.begin_delete(RG, "sdk-01").result()
    assert fake.resource(machine_id(SUBSCRIPTION, RG, "sdk-01")) is None
    writes = [r for r in fake.arm_requests() if r["method"] in ("PUT", "DELETE")]
    assert [(r["method"], r["status"], r["api_version"]) for r in writes] == [
        ("PUT", 200, "2026-07-15"), ("DELETE", 202, "2026-07-15")]
    polls = [r for r in fake.arm_requests() if "/operationresults/" in r["path"].lower()]
    assert polls and {(r["status"], r["authorized"]) for r in polls} == {(204, True)}
