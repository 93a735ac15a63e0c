# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A local HTTPS stand-in for the Microsoft Entra authority and Azure Resource Manager (Microsoft.Security, and
Microsoft.HybridCompute: Arc machines read, created, updated and deleted, their extensions read).

The real azure-identity and azure-mgmt-security clients talk to it over TLS (a CA made at test time): the
OpenID configuration and token endpoint of the authority, the client-credentials grant, bearer tokens, the
api-versions the SDK sends, and ARM's JSON shapes (booleans as strings in pricings, ids without a leading slash
in serverVulnerabilityAssessmentsSettings) as Microsoft's example payloads show them.

Every request is appended to requests.jsonl (method, path, api-version, body, status, token scope); the client
secret is recorded as "<redacted>" and tokens never. The world lives in state.json, which tests read and edit
between runs: subscriptions, ARM resources by lower-cased path, clients and their secrets, read-only clients,
faults to inject, one-shot answers to replay, resource groups, and timelines (a resource that changes from one read
to the next, as an extension Defender for Cloud is deploying does).

A machine PUT (what `azcmagent connect` sends) needs a token the fake issued for the ARM scope; clients in
"arc_forbidden_clients" are refused (403 AuthorizationFailed, missing the Azure Connected Machine Onboarding role),
subscriptions in "unregistered_providers" answer 409 MissingSubscriptionRegistration, a missing resource group 404.
In a subscription whose VirtualMachines pricing is Standard, the PUT also starts Defender for Cloud's deployment of
MDE.Windows / MDE.Linux as a timeline ("Creating" on the first read, then "Succeeded", or the end state that
"mde_extension_outcome" gives for the machine's name). A machine DELETE removes the machine and its extensions.
"""

from __future__ import annotations

import datetime
import http.server
import json
import pathlib
import re
import secrets
import ssl
import threading
import urllib.parse
import uuid

from . import tls

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT_ID = "a1b2c3d4-0000-4000-8000-00000000c11e"
SECRET = "fake-secret-Zq8~9mR2"                   # a test value; the tests grep output for it
SUBSCRIPTION = "20ff7fc3-e762-44dd-bd96-b71116dcdc23"

# api-version ARM accepts per resource type (what azure-mgmt-security 7.0.0's default profile sends).
API_VERSIONS = {"pricings": "2024-01-01", "settings": "2022-05-01",
                "serverVulnerabilityAssessmentsSettings": "2023-05-01"}
SETTING_NAMES = ("WDATP", "WDATP_UNIFIED_SOLUTION", "WDATP_EXCLUDE_LINUX_PUBLIC_PREVIEW", "WDATP_VNEXT", "MCAS",
                 "Sentinel")
SECURITY = re.compile(r"^/(?P<scope>.+?)/providers/Microsoft\.Security/(?P<type>pricings|settings|"
                      r"serverVulnerabilityAssessmentsSettings)/(?P<name>[^/]+)$", re.I)
# Microsoft.HybridCompute: the api-versions azure-mgmt-hybridcompute 9.x and 10.x send, and the one of Microsoft's
# examples (and of the Connected Machine agent). Machines are read and written; extensions are read only (405 on
# writes: Defender for Cloud's model is what creates MDE.Windows / MDE.Linux here).
HYBRID_API_VERSIONS = ("2024-07-10", "2025-01-13", "2026-07-15")
# Token audiences ARM accepts: the public and US Government clouds' resource, and the legacy one the agent uses.
ARM_SCOPES = ("https://management.azure.com/.default", "https://management.usgovcloudapi.net/.default",
              "https://management.core.windows.net//.default", "https://management.core.windows.net/.default")
# The api-versions whose machine DELETE is a long-running operation (azure-mgmt-hybridcompute 10.x's begin_delete
# takes 202 or 204): 202 with a Location that answers 204 once the machine is gone. The older ones answer 200 / 204.
HYBRID_ASYNC_DELETE = ("2026-07-15",)
OPERATION = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.HybridCompute/locations/[^/]+/"
                       r"operationResults/(?P<id>[^/]+)$", re.I)
ONBOARDING_ROLE = "Azure Connected Machine Onboarding"
MDE_EXTENSIONS = {"windows": "MDE.Windows", "linux": "MDE.Linux"}
HYBRID = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.HybridCompute/"
                    r"machines(?:/(?P<machine>[^/]+)(?:/(?P<ext>extensions)(?:/(?P<name>[^/]+))?)?)?$", re.I)
MDE_PUBLISHER = "Microsoft.Azure.AzureDefenderForServers"


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def pricing_body(scope, tier="Free", sub_plan=None, extensions=(), enforce="False", name="VirtualMachines"):
    """A pricing as ARM returns it (2024-01-01): booleans as strings, extensions with isEnabled strings."""
    props = {"pricingTier": tier, "freeTrialRemainingTime": "PT0S"}
    if tier == "Standard":
        props.update(subPlan=sub_plan or "P2", enablementTime=_now())
    if scope.lower().count("/") <= 1:
        props["enforce"] = enforce
    else:
        props.update(inherited="False", inheritedFrom=None)
    if tier == "Standard" and extensions:
        props["extensions"] = [dict(e) for e in extensions]
    return {"id": "/{0}/providers/Microsoft.Security/pricings/{1}".format(scope, name), "name": name,
            "type": "Microsoft.Security/pricings", "properties": props}


def setting_body(sub, name, enabled):
    return {"id": "/subscriptions/{0}/providers/Microsoft.Security/settings/{1}".format(sub, name), "name": name,
            "kind": "DataExportSettings", "type": "Microsoft.Security/settings", "properties": {"enabled": enabled}}


def va_body(sub, provider="MdeTvm"):
    return {"id": "subscriptions/{0}/providers/Microsoft.Security/serverVulnerabilityAssessmentsSettings/"
                  "azureServersSetting".format(sub),
            "name": "azureServersSetting", "type": "Microsoft.Security/serverVulnerabilityAssessmentsSettings",
            "kind": "AzureServersSetting", "properties": {"selectedProvider": provider},
            "systemData": {"createdBy": "user@contoso.com", "createdByType": "User", "createdAt": _now(),
                           "lastModifiedBy": "user@contoso.com", "lastModifiedByType": "User",
                           "lastModifiedAt": _now()}}


def key(path):
    return path.rstrip("/").lower()


def machine_id(sub, rg, name):
    return "/subscriptions/{0}/resourceGroups/{1}/providers/Microsoft.HybridCompute/machines/{2}".format(sub, rg, name)


OS_DEFAULTS = {"windows": ("Windows Server 2019 Datacenter", "10.0.17763.6414"),
               "linux": ("Ubuntu 22.04.5 LTS", "5.15.0-126-generic")}


def machine_body(sub, rg, name, status="Connected", os_type="windows", location="westeurope", tags=None,
                 agent_version="1.58.03228.2572", error_details=None, last_status_change=None, os_sku=None):
    """An Arc machine as ARM returns it (the shape of Microsoft's Machines_Get example; values of a real server)."""
    sku, version = OS_DEFAULTS.get(os_type, (None, None))
    fqdn = "{0}.contoso.local".format(name.lower())
    props = {
        "provisioningState": "Succeeded", "status": status, "lastStatusChange": last_status_change or _now(),
        "errorDetails": error_details or [], "agentVersion": agent_version, "displayName": name,
        "machineFqdn": fqdn, "dnsFqdn": fqdn, "domainName": "contoso.local", "adFqdn": fqdn,
        "osName": os_type, "osType": os_type, "osSku": os_sku or sku, "osVersion": version, "osEdition": None,
        "vmId": str(uuid.uuid5(uuid.NAMESPACE_URL, machine_id(sub, rg, name))), "vmUuid": None,
        "clientPublicKey": "MIIBCgKCAQEAuTestKeyOnly", "mssqlDiscovered": "false",
        "osProfile": {"computerName": name, "windowsConfiguration": {"patchSettings": {
            "assessmentMode": "ImageDefault", "patchMode": "Manual"}}} if os_type == "windows" else
        {"computerName": name, "linuxConfiguration": {"patchSettings": {"assessmentMode": "ImageDefault",
                                                                        "patchMode": "ImageDefault"}}},
        "detectedProperties": {"cloudprovider": "N/A", "manufacturer": "VMware, Inc.", "model": "VMware7,1"},
        "agentConfiguration": {"proxyUrl": "", "incomingConnectionsPorts": [], "extensionsAllowList": [],
                               "extensionsBlockList": [], "proxyBypass": [], "extensionsEnabled": "true",
                               "guestConfigurationEnabled": "true", "configMode": "full"},
        "serviceStatuses": {"extensionService": {"status": "Running", "startupType": "Automatic"},
                            "guestConfigurationService": {"status": "Running", "startupType": "Automatic"}},
        "locationData": {"name": "Amsterdam", "city": "Amsterdam", "district": None, "countryOrRegion": "nl"},
    }
    return {"id": machine_id(sub, rg, name), "name": name, "location": location, "tags": tags,
            "identity": {"type": "SystemAssigned", "principalId": str(uuid.uuid5(uuid.NAMESPACE_DNS, fqdn)),
                         "tenantId": TENANT},
            "type": "Microsoft.HybridCompute/machines", "kind": None, "properties": props, "resources": []}


def extension_body(machine, name, ext_type=None, publisher=MDE_PUBLISHER, state="Succeeded", message=None,
                   version="1.0.10.2", location="westeurope"):
    """An extension of an Arc machine as ARM returns it: ids with Machines/.../Extensions/ segments as in Microsoft's
    examples, the handler's fields under properties, the instance view's status (empty while it is being created)."""
    ext_type = ext_type or name
    rid = machine.replace("/providers/Microsoft.HybridCompute/machines/", "/providers/Microsoft.HybridCompute/"
                          "Machines/") + "/Extensions/" + name
    lowered = state.lower()
    if lowered == "succeeded":
        status = {"code": "success", "level": "Information", "displayStatus": "Provisioning succeeded",
                  "message": message or "Enable succeeded", "time": _now()}
    elif lowered == "failed":
        status = {"code": "failed", "level": "Error", "displayStatus": "Provisioning failed",
                  "message": message or "Extension failed to install", "time": _now()}
    else:
        status = {"code": "transitioning", "level": "Information", "displayStatus": "Transitioning",
                  "message": message, "time": _now()} if message else {}
    settings = {"azureResourceId": machine, "forceReOnboarding": False, "vNextEnabled": "true",
                "autoUpdate": True} if publisher == MDE_PUBLISHER else {}
    return {"id": rid, "name": name, "location": location, "type": "Microsoft.HybridCompute/machines/extensions",
            "properties": {"publisher": publisher, "type": ext_type, "typeHandlerVersion": version,
                           "autoUpgradeMinorVersion": True, "enableAutomaticUpgrade": True, "settings": settings,
                           "provisioningState": state,
                           "instanceView": {"name": name, "type": ext_type, "typeHandlerVersion": version,
                                            "status": status}}}


def machine_from_request(sub, rg, name, body, stored=None):
    """What ARM stores for a machine PUT: machine_body's shape, the agent's facts from the body, status Connected."""
    props = body.get("properties") or {}
    os_type = str(props.get("osType") or (stored or {}).get("properties", {}).get("osType") or "windows").lower()
    new = machine_body(sub, rg, name, os_type=os_type, location=_location(body["location"]), tags=body.get("tags"),
                       agent_version=props.get("agentVersion") or "1.58.03228.2572")
    fields = new["properties"]
    for wire in ("osName", "osVersion", "osSku", "vmId", "clientPublicKey", "privateLinkScopeResourceId",
                 "mssqlDiscovered", "detectedProperties", "cloudMetadata"):
        if props.get(wire) is not None:
            fields[wire] = props[wire]
    if stored:
        new["resources"] = stored.get("resources") or []
    return new


def _location(value):
    """ARM's normal form of a location: 'West Europe' -> 'westeurope'."""
    return re.sub(r"\s+", "", str(value)).lower()


def legacy_subscription(sub):
    """An older subscription: Free tier, integration off, Linux excluded, no vulnerability assessment."""
    base = "/subscriptions/{0}/providers/Microsoft.Security".format(sub)
    return {key(base + "/pricings/VirtualMachines"): pricing_body("subscriptions/" + sub),
            key(base + "/settings/WDATP"): setting_body(sub, "WDATP", False),
            key(base + "/settings/WDATP_UNIFIED_SOLUTION"): setting_body(sub, "WDATP_UNIFIED_SOLUTION", False),
            key(base + "/settings/WDATP_EXCLUDE_LINUX_PUBLIC_PREVIEW"):
                setting_body(sub, "WDATP_EXCLUDE_LINUX_PUBLIC_PREVIEW", True)}


class FakeAzure:
    """Start with .start(); .url is the base for both the authority and ARM."""

    def __init__(self, directory, subscriptions=(SUBSCRIPTION,)):
        self.dir = pathlib.Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state_path = self.dir / "state.json"
        self.log_path = self.dir / "requests.jsonl"
        self.tls = tls.make(self.dir / "tls")
        self.ca = self.tls["ca"]
        self.lock = threading.Lock()
        # One request (or test edit) at a time reads and writes state.json: hosts connecting at once lose no machine.
        self.state_lock = threading.RLock()
        self.tokens = {}
        resources = {}
        for sub in subscriptions:
            resources.update(legacy_subscription(sub))
        self.save({"tenant": TENANT, "clients": {CLIENT_ID: SECRET}, "readonly_clients": [],
                   "subscriptions": list(subscriptions), "resources": resources, "faults": [], "replies": {},
                   "resource_groups": [], "timelines": {}, "arc_forbidden_clients": [],
                   "unregistered_providers": [], "mde_extension_outcome": {}})
        self.log_path.write_text("")
        self.server = None
        self.thread = None

    # State ----------------------------------------------------------------------------------------------------
    def load(self):
        return json.loads(self.state_path.read_text())

    def save(self, state):
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
        tmp.replace(self.state_path)

    def edit(self, func):
        with self.state_lock, self.lock:
            state = self.load()
            func(state)
            self.save(state)

    def put_resource(self, path, body):
        self.edit(lambda s: s["resources"].__setitem__(key(path), body))

    def drop_resource(self, path):
        self.edit(lambda s: s["resources"].pop(key(path), None))

    def resource(self, path):
        return self.load()["resources"].get(key(path))

    def add_resource_group(self, rg, sub=SUBSCRIPTION):
        self.edit(lambda s: s["resource_groups"].append(key("/subscriptions/{0}/resourceGroups/{1}".format(sub, rg))))

    def put_machine(self, rg, name, sub=SUBSCRIPTION, **fields):
        """An Arc machine (machine_body's fields), in a resource group that then exists; returns its id."""
        body = machine_body(sub, rg, name, **fields)
        self.edit(lambda s: (s["resource_groups"].append(key("/subscriptions/{0}/resourceGroups/{1}".format(sub, rg))),
                             s["resources"].__setitem__(key(body["id"]), body)))
        return body["id"]

    def put_extension(self, machine, name, **fields):
        """An extension of the Arc machine whose id is machine (extension_body's fields)."""
        body = extension_body(machine, name, **fields)
        self.put_resource(machine + "/extensions/" + name, body)
        return body

    def timeline(self, path, steps):
        """The resource at path changes at each read: the n-th GET that reads it (itself, or its collection) first
        stores steps[n] (a body, or None for absent); the last step stays."""
        self.edit(lambda s: s["timelines"].__setitem__(key(path), list(steps)))

    def forbid_arc(self, client_id=CLIENT_ID):
        """The client lacks the Azure Connected Machine Onboarding role: its machine writes answer 403."""
        self.edit(lambda s: s.setdefault("arc_forbidden_clients", []).append(client_id))

    def unregister_provider(self, sub=SUBSCRIPTION):
        """Microsoft.HybridCompute is not registered in sub: machine writes answer 409."""
        self.edit(lambda s: s.setdefault("unregistered_providers", []).append(sub.lower()))

    def set_extension_outcome(self, name, state="Failed", message=None):
        """The end state of the MDE extension Defender for Cloud deploys on the machine called name."""
        outcome = {"state": state, "message": message}
        self.edit(lambda s: s.setdefault("mde_extension_outcome", {}).__setitem__(name, outcome))

    def set_pricing(self, tier="Standard", sub=SUBSCRIPTION, sub_plan="P2"):
        """The subscription's VirtualMachines pricing (Defender for Servers) as a portal change would leave it."""
        path = "/subscriptions/{0}/providers/Microsoft.Security/pricings/VirtualMachines".format(sub)
        self.put_resource(path, pricing_body("subscriptions/" + sub, tier, sub_plan if tier == "Standard" else None))

    def issue_token(self, client_id=CLIENT_ID, scope=ARM_SCOPES[0]):
        """A bearer token as the token endpoint would issue it (for a test that hands one to an agent model)."""
        token = "fake-token-" + secrets.token_hex(16)
        self.tokens[token] = {"scope": scope, "client_id": client_id}
        return token

    def fault(self, status, times=1, method=None, match=None, code=None, retry_after=None):
        """Answer the next `times` matching requests with `status` (match: a substring of the path)."""
        entry = {"status": status, "times": times, "method": method, "match": match, "code": code,
                 "retry_after": retry_after}
        self.edit(lambda s: s["faults"].append(entry))

    def reply_once(self, method, path, status, body):
        """Replay one answer (e.g. a Microsoft example) for the next `method` on `path`, storing it on PUT."""
        self.edit(lambda s: s["replies"].setdefault(method + " " + key(path), []).append(
            {"status": status, "body": body}))

    def requests(self):
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line]

    def arm_requests(self):
        return [r for r in self.requests() if r["path"].lower().startswith("/subscriptions/")]

    def clear_log(self):
        self.log_path.write_text("")

    # Server ---------------------------------------------------------------------------------------------------
    @property
    def url(self):
        return "https://127.0.0.1:{0}".format(self.server.server_address[1])

    def start(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.tls["cert"], self.tls["key"])
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def tokens_client(self, authorization):
        """The client a bearer token was issued to (None for a token this fake did not issue)."""
        token = self.tokens.get(authorization[7:]) if authorization.startswith("Bearer ") else None
        return token and token["client_id"]

    def record(self, entry):
        line = json.dumps(entry, sort_keys=True)
        for token in list(self.tokens):
            line = line.replace(token, "<redacted>")   # a token never reaches the log, even inside a body
        with self.lock, open(self.log_path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


class ConnectRecorder:
    """A plain-HTTP proxy on 127.0.0.1 that records where clients want to go (CONNECT host:port) and refuses.

    With HTTPS_PROXY pointing at it, a test sees which real endpoint the SDK would call without any traffic
    leaving the machine.
    """

    def __init__(self):
        self.targets = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # pylint: disable=redefined-builtin
                pass

            def do_CONNECT(self):  # noqa: N802
                recorder.targets.append(self.path)
                self.send_response(502)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:{0}".format(self.server.server_address[1])

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def _error(code, message):
    return {"error": {"code": code, "message": message}}


def _arm_scope(scope):
    return any(part in ARM_SCOPES for part in str(scope or "").split())


def _machine_problem(body):
    """(code, message) of what ARM refuses in a machine PUT's body, or None."""
    if not isinstance(body, dict):
        return "InvalidRequestContent", "The request content is missing or is not a JSON object."
    if not isinstance(body.get("location"), str) or not body["location"].strip():
        return "LocationRequired", "The location property is required for this definition."
    tags = body.get("tags")
    if tags is not None and (not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values())):
        return "InvalidTagNameCharacters", "The tags must be an object of string values."
    props = body.get("properties")
    if props is not None and not isinstance(props, dict):
        return "InvalidRequestContent", "The properties must be a JSON object."
    os_type = (props or {}).get("osType")
    if os_type is not None and str(os_type).lower() not in MDE_EXTENSIONS:
        return "InvalidParameter", "osType must be windows or linux."
    return None


def _servers_plan_on(state, sub, machine):
    """Defender for Servers covers the machine: its own VirtualMachines pricing, else its subscription's."""
    for scope in (machine["id"], "/subscriptions/" + sub):
        pricing = state["resources"].get(key(scope + "/providers/Microsoft.Security/pricings/VirtualMachines"))
        if pricing:
            return (pricing.get("properties") or {}).get("pricingTier") == "Standard"
    return False


def _deploy_mde_extension(state, sub, machine):
    """Defender for Cloud's reaction to a machine in a covered subscription: it deploys MDE.Windows / MDE.Linux, seen
    "Creating" on the first read and in its end state from the second ("mde_extension_outcome" may make it Failed)."""
    if not _servers_plan_on(state, sub, machine):
        return
    ext = MDE_EXTENSIONS[machine["properties"]["osType"]]
    path = key(machine["id"] + "/extensions/" + ext)
    if path in state["resources"] or path in state["timelines"]:
        return
    outcomes = {k.lower(): v for k, v in (state.get("mde_extension_outcome") or {}).items()}
    outcome = outcomes.get(machine["name"].lower()) or {}
    fields = {"location": machine["location"]}
    final = extension_body(machine["id"], ext, state=outcome.get("state") or "Succeeded",
                           message=outcome.get("message"), **fields)
    state["timelines"][path] = [extension_body(machine["id"], ext, state="Creating", **fields), final]


def _handler(fake):  # noqa: C901  one small request router
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # pylint: disable=redefined-builtin
            pass

        def _answer(self, status, body, entry, headers=None):
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-ms-request-id", secrets.token_hex(8))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            entry["status"] = status
            fake.record(entry)

        def _body(self):
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length).decode() if length else ""

        def _fault(self, state, entry):
            for fault in state["faults"]:
                if fault["times"] <= 0:
                    continue
                if fault["method"] and fault["method"] != self.command:
                    continue
                if fault["match"] and fault["match"].lower() not in self.path.lower():
                    continue
                fault["times"] -= 1
                fake.save(state)
                codes = {401: "InvalidAuthenticationToken", 403: "AuthorizationFailed", 404: "ResourceNotFound",
                         429: "TooManyRequests", 500: "InternalServerError", 409: "MissingSubscriptionRegistration"}
                code = fault["code"] or codes.get(fault["status"], "Error")
                namespace = "Microsoft.HybridCompute" if "/microsoft.hybridcompute/" in self.path.lower() \
                    else "Microsoft.Security"
                message = {403: "The client does not have authorization to perform action over scope.",
                           429: "Too many requests, retry later.", 500: "An internal server error occurred.",
                           409: "The subscription is not registered to use namespace '{0}'.".format(namespace)}.get(
                               fault["status"], "Injected {0}.".format(fault["status"]))
                headers = {"Retry-After": str(fault["retry_after"])} if fault["retry_after"] is not None else {}
                entry["fault"] = fault["status"]
                self._answer(fault["status"], _error(code, message), entry, headers)
                return True
            return False

        def do_GET(self):  # noqa: N802
            self._route()

        def do_POST(self):  # noqa: N802
            self._route()

        def do_PUT(self):  # noqa: N802
            self._route()

        def do_DELETE(self):  # noqa: N802
            self._route()

        def _route(self):
            raw = self._body()
            with fake.state_lock:
                self._serve(raw)

        def _serve(self, raw):
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            entry = {"method": self.command, "path": url.path, "api_version": query.get("api-version")}
            with fake.lock:
                state = fake.load()
            if self._fault(state, entry):
                return
            tenant = state["tenant"]
            if self.command == "GET" and url.path.endswith("/v2.0/.well-known/openid-configuration"):
                return self._openid(url.path.split("/")[1], tenant, entry)
            if self.command == "POST" and url.path.endswith("/oauth2/v2.0/token"):
                return self._token(url.path.split("/")[1], state, raw, entry)
            if raw:
                try:
                    entry["body"] = json.loads(raw)
                except ValueError:
                    return self._answer(400, _error("InvalidRequestContent", "The request body is not JSON."), entry)
            auth = self.headers.get("Authorization", "")
            token = fake.tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
            entry["authorized"] = token is not None
            if token is None:
                return self._answer(401, _error("InvalidAuthenticationToken",
                                                "The access token is missing or invalid."), entry)
            entry["token_scope"] = token["scope"]
            if self.command == "GET" and OPERATION.match(url.path):
                done = OPERATION.match(url.path).group("id") in state.get("operations", [])
                return self._answer(204 if done else 404, None if done else _error(
                    "OperationNotFound", "No such operation."), entry)
            hybrid = HYBRID.match(url.path)
            if hybrid:
                entry["expand"] = query.get("$expand")
                return self._hybrid(state, url.path, hybrid, entry)
            match = SECURITY.match(url.path)
            if not match:
                return self._answer(404, _error("InvalidResourceType", "No route for " + url.path), entry)
            kind = next(k for k in API_VERSIONS if k.lower() == match.group("type").lower())
            if entry["api_version"] != API_VERSIONS[kind]:
                return self._answer(400, _error("InvalidApiVersionParameter", "The api-version '{0}' is invalid for "
                                                "{1}; supported: {2}.".format(entry["api_version"], kind,
                                                                              API_VERSIONS[kind])), entry)
            sub = match.group("scope").split("/")[1] if match.group("scope").lower().startswith("subscriptions/") \
                else None
            if not sub or sub.lower() not in [s.lower() for s in state["subscriptions"]]:
                return self._answer(404, _error("SubscriptionNotFound", "The subscription '{0}' could not be "
                                                "found.".format(sub)), entry)
            if self.command in ("PUT", "DELETE") and token["client_id"] in state["readonly_clients"]:
                return self._answer(403, _error("AuthorizationFailed", "The client '{0}' does not have authorization "
                                                "to perform action 'Microsoft.Security/{1}/write' over scope '/{2}'."
                                                .format(token["client_id"], kind, match.group("scope"))), entry)
            reply = state["replies"].get(self.command + " " + key(url.path))
            if reply:
                answer = reply.pop(0)
                if self.command == "PUT" and answer["status"] < 300:
                    state["resources"][key(url.path)] = answer["body"]
                fake.save(state)
                return self._answer(answer["status"], answer["body"], entry)
            handler = {"pricings": self._pricing, "settings": self._setting,
                       "serverVulnerabilityAssessmentsSettings": self._va}[kind]
            status, body = handler(state, url.path, match, entry.get("body"), sub)
            fake.save(state)
            return self._answer(status, body, entry)

        # Authority --------------------------------------------------------------------------------------------
        def _openid(self, tenant, known, entry):
            if tenant.lower() != known.lower():
                return self._answer(400, {"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant "
                                          "'{0}' not found.".format(tenant)}, entry)
            base = "https://{0}/{1}".format(self.headers.get("Host"), tenant)
            return self._answer(200, {
                "token_endpoint": base + "/oauth2/v2.0/token",
                "authorization_endpoint": base + "/oauth2/v2.0/authorize",
                "device_authorization_endpoint": base + "/oauth2/v2.0/devicecode", "issuer": base + "/v2.0",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                          "client_secret_basic"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "jwks_uri": base + "/discovery/v2.0/keys", "tenant_region_scope": "WW",
                "cloud_instance_name": "microsoftonline.com"}, entry)

        def _token(self, tenant, state, raw, entry):
            form = dict(urllib.parse.parse_qsl(raw))
            entry["body"] = {k: ("<redacted>" if k in ("client_secret", "client_assertion") else v)
                             for k, v in form.items()}
            entry["token_scope"] = form.get("scope")
            if tenant.lower() != state["tenant"].lower():
                return self._answer(400, {"error": "invalid_tenant", "error_codes": [90002],
                                          "error_description": "AADSTS90002: Tenant '{0}' not found. Check to make "
                                          "sure you have the correct tenant ID.".format(tenant)}, entry)
            client = form.get("client_id")
            if client not in state["clients"]:
                return self._answer(400, {"error": "unauthorized_client", "error_codes": [700016],
                                          "error_description": "AADSTS700016: Application with identifier '{0}' "
                                          "was not found in the directory.".format(client)}, entry)
            if form.get("client_secret") != state["clients"][client]:
                return self._answer(401, {"error": "invalid_client", "error_codes": [7000215],
                                          "error_description": "AADSTS7000215: Invalid client secret provided. "
                                          "Ensure the secret being sent in the request is the client secret "
                                          "value, not the client secret ID."}, entry)
            token = "fake-token-" + secrets.token_hex(16)
            fake.tokens[token] = {"scope": form.get("scope"), "client_id": client}
            return self._answer(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                                      "access_token": token}, entry)

        # Microsoft.HybridCompute ------------------------------------------------------------------------------
        def _hybrid(self, state, path, match, entry):
            if entry["api_version"] not in HYBRID_API_VERSIONS:
                return self._answer(400, _error("InvalidApiVersionParameter", "The api-version '{0}' is invalid. The "
                                                "supported versions are '{1}'.".format(
                                                    entry["api_version"], "','".join(HYBRID_API_VERSIONS))), entry)
            sub, rg = match.group("sub"), match.group("rg")
            if sub.lower() not in [s.lower() for s in state["subscriptions"]]:
                return self._answer(404, _error("SubscriptionNotFound", "The subscription '{0}' could not be "
                                                "found.".format(sub)), entry)
            if not _arm_scope(entry.get("token_scope")):
                return self._answer(401, _error("InvalidAuthenticationToken", "The access token has an invalid "
                                                "audience; request it for Azure Resource Manager."), entry)
            if self.command != "GET":
                if match.group("machine") is None or match.group("ext"):
                    return self._answer(405, _error("MethodNotAllowed", "This fake writes Arc machines only; their "
                                                    "extensions are read-only here."), entry)
                status, body = self._machine_write(state, path, match, entry)
                headers = {}
                if self.command == "DELETE" and status == 200 and entry["api_version"] in HYBRID_ASYNC_DELETE:
                    operation = str(uuid.uuid4())
                    state.setdefault("operations", []).append(operation)
                    status, headers = 202, {"Location": "https://{0}/subscriptions/{1}/providers/Microsoft."
                                            "HybridCompute/locations/{2}/operationResults/{3}?api-version={4}".format(
                                                self.headers.get("Host"), sub, "westeurope", operation,
                                                entry["api_version"]), "Retry-After": "0"}
                fake.save(state)
                return self._answer(status, body, entry, headers)
            if key("/subscriptions/{0}/resourceGroups/{1}".format(sub, rg)) not in state["resource_groups"]:
                return self._answer(404, _error("ResourceGroupNotFound", "Resource group '{0}' could not be "
                                                "found.".format(rg)), entry)
            here = key(path)
            for where, steps in state["timelines"].items():
                if where == here or (where.startswith(here + "/") and "/" not in where[len(here) + 1:]):
                    step = steps.pop(0) if len(steps) > 1 else steps[0]
                    if step is None:
                        state["resources"].pop(where, None)
                    else:
                        state["resources"][where] = step
            fake.save(state)
            reply = state["replies"].get("GET " + here)
            if reply:
                answer = reply.pop(0)
                fake.save(state)
                return self._answer(answer["status"], answer["body"], entry)
            machine = key(machine_id(sub, rg, match.group("machine") or ""))
            if match.group("machine") is None or (match.group("ext") and match.group("name") is None):
                parent = here + "/"
                if match.group("machine") and machine not in state["resources"]:
                    return self._answer(404, _error("ParentResourceNotFound", "Can not perform requested operation "
                                                    "on nested resource. Parent resource '{0}' not found.".format(
                                                        match.group("machine"))), entry)
                items = [body for where, body in sorted(state["resources"].items())
                         if where.startswith(parent) and "/" not in where[len(parent):]]
                return self._answer(200, {"value": items, "nextLink": None}, entry)
            stored = state["resources"].get(here)
            if stored is None:
                kind = "machines/extensions" if match.group("ext") else "machines"
                return self._answer(404, _error("ResourceNotFound", "The Resource 'Microsoft.HybridCompute/{0}/{1}' "
                                                "under resource group '{2}' was not found. For more details please go "
                                                "to https://aka.ms/ARMResourceNotFoundFix".format(
                                                    kind, path.rsplit("/", 1)[1], rg)), entry)
            return self._answer(200, stored, entry)

        def _machine_write(self, state, path, match, entry):
            """PUT (create or update) or DELETE of an Arc machine, with ARM's checks in ARM's order."""
            sub, rg, name = match.group("sub"), match.group("rg"), match.group("machine")
            client = fake.tokens_client(self.headers.get("Authorization", ""))
            action = "write" if self.command == "PUT" else "delete"
            if client in state.get("arc_forbidden_clients", []) or client in state["readonly_clients"]:
                return 403, _error("AuthorizationFailed", "The client '{0}' with object id '{0}' does not have "
                                   "authorization to perform action 'Microsoft.HybridCompute/machines/{1}' over "
                                   "scope '/subscriptions/{2}/resourceGroups/{3}' or the scope is invalid; the "
                                   "'{4}' role on the resource group grants it.".format(
                                       client, action, sub, rg, ONBOARDING_ROLE))
            if self.command == "PUT" and sub.lower() in [s.lower() for s in state.get("unregistered_providers", [])]:
                error = _error("MissingSubscriptionRegistration", "The subscription is not registered to use "
                               "namespace 'Microsoft.HybridCompute'. See https://aka.ms/rps-not-found for how to "
                               "register subscriptions.")
                error["error"]["details"] = [dict(error["error"], target="Microsoft.HybridCompute")]
                return 409, error
            if key("/subscriptions/{0}/resourceGroups/{1}".format(sub, rg)) not in state["resource_groups"]:
                return 404, _error("ResourceGroupNotFound", "Resource group '{0}' could not be found.".format(rg))
            here = key(path)
            stored = state["resources"].get(here)
            if self.command == "DELETE":
                for where in [w for w in state["resources"] if w == here or w.startswith(here + "/")]:
                    del state["resources"][where]
                for where in [w for w in state["timelines"] if w == here or w.startswith(here + "/")]:
                    del state["timelines"][where]
                return (200, None) if stored else (204, None)
            body = entry.get("body")
            problem = _machine_problem(body)
            if problem:
                return 400, _error(*problem)
            reply = state["replies"].get("PUT " + here)
            if reply:
                answer = reply.pop(0)
                if answer["status"] < 300:
                    state["resources"][here] = answer["body"]
                return answer["status"], answer["body"]
            new = machine_from_request(sub, rg, name, body, stored)
            state["resources"][here] = new
            _deploy_mde_extension(state, sub, new)
            return 200, new   # Machines_CreateOrUpdate answers 200 for a new machine too (the SDK takes only 200)

        # ARM resource types -----------------------------------------------------------------------------------
        def _pricing(self, state, path, match, body, sub):
            scope = match.group("scope")
            stored = state["resources"].get(key(path))
            at_resource = scope.lower() != "subscriptions/" + sub.lower()
            if self.command == "GET":
                if stored:
                    return 200, stored
                if at_resource:
                    parent = state["resources"].get(key("/subscriptions/{0}/providers/Microsoft.Security/pricings/"
                                                        "{1}".format(sub, match.group("name"))))
                    if parent:
                        inherited = json.loads(json.dumps(parent))
                        inherited["id"] = path
                        inherited["properties"].pop("enforce", None)
                        inherited["properties"].update(inherited="True", inheritedFrom="/subscriptions/" + sub)
                        return 200, inherited
                return 404, _error("ResourceNotFound", "Pricing {0} not found.".format(match.group("name")))
            if self.command == "DELETE":
                state["resources"].pop(key(path), None)
                return 200, None
            props = (body or {}).get("properties") or {}
            tier = props.get("pricingTier")
            if tier not in ("Free", "Standard"):
                return 400, _error("InvalidPricingTier", "pricingTier must be Free or Standard.")
            if at_resource and tier == "Standard" and props.get("subPlan") not in (None, "P1"):
                return 400, _error("InvalidSubPlan", "Only sub plan P1 can be set at resource level.")
            if tier == "Free" and props.get("extensions"):
                return 400, _error("InvalidExtensions", "Extensions cannot be set on the Free tier.")
            # Worst case of the real service: an extension the PUT omits is gone (read, merge, write the full list).
            extensions = []
            for ext in props.get("extensions") or []:
                ext = dict(ext)
                ext["operationStatus"] = {"code": "Succeeded", "message": "Successfully enabled extension"}
                extensions.append(ext)
            new = pricing_body(scope, tier, props.get("subPlan"), extensions, props.get("enforce") or "False",
                               name=match.group("name"))
            state["resources"][key(path)] = new
            return (200 if stored else 201), new

        def _setting(self, state, path, match, body, sub):
            name = match.group("name")
            if name not in SETTING_NAMES:
                return 400, _error("InvalidSettingName", "Setting '{0}' is not known.".format(name))
            stored = state["resources"].get(key(path))
            if self.command == "GET":
                return (200, stored) if stored else (404, _error("ResourceNotFound", "Setting not found."))
            if self.command != "PUT":
                return 405, _error("MethodNotAllowed", "Settings cannot be deleted.")
            if (body or {}).get("kind") not in ("DataExportSettings", "AlertSyncSettings"):
                return 400, _error("InvalidSettingKind", "kind must be DataExportSettings or AlertSyncSettings.")
            enabled = ((body or {}).get("properties") or {}).get("enabled")
            if not isinstance(enabled, bool):
                return 400, _error("InvalidRequestContent", "properties.enabled must be a boolean.")
            new = setting_body(sub, name, enabled)
            new["kind"] = body["kind"]
            state["resources"][key(path)] = new
            return 200, new

        def _va(self, state, path, match, body, sub):
            stored = state["resources"].get(key(path))
            if match.group("name") != "azureServersSetting":
                return 400, _error("InvalidSettingKind", "Only azureServersSetting is supported.")
            if self.command == "GET":
                return (200, stored) if stored else (404, _error("NotFound", "No setting found."))
            if self.command == "DELETE":
                state["resources"].pop(key(path), None)
                return (200 if stored else 204), {}
            if (body or {}).get("kind") != "AzureServersSetting":
                return 400, _error("InvalidSettingKind", "kind must be AzureServersSetting.")
            provider = ((body or {}).get("properties") or {}).get("selectedProvider")
            if provider != "MdeTvm":
                return 400, _error("InvalidProvider", "selectedProvider must be MdeTvm.")
            new = va_body(sub, provider)
            state["resources"][key(path)] = new
            return (200 if stored else 201), new

    return Handler
