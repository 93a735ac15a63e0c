# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""arc_connect on lab hosts whose agent model talks to the HTTPS fake ARM: connect, the re-run in one execution,
a machine connected elsewhere, each agent fault, check mode, disconnect; the client secret and every access token
the fake issued are grepped for in every output, result and lab file."""

from __future__ import annotations

import json

from azure_fake.server import CLIENT_ID, SECRET, SUBSCRIPTION, TENANT, FakeAzure
from conftest import ROOT
from test_fault_matrix_lab import documented_faults
from windows_lab import inventory

PLAYBOOK = ROOT / "tests" / "integration" / "playbooks" / "module_per_host.yml"
W19, DEB = "windows_server_2019", "debian_12"
FAULTS = {"net": ("arc_network", "AZCM0026"), "creds": ("arc_bad_credentials", "AZCM0041"),
          "name": ("arc_name_exists", "AZCM0044"), "os": ("arc_unsupported_os", "AZCM0153"),
          "forbidden": ("arc_forbidden", "Azure Connected Machine Onboarding"),
          "provider": ("arc_provider_unregistered", "Microsoft.HybridCompute")}
OTHER_RG = {"arc": {"installed": True, "version": "1.47.02849.1883", "status": "Connected",
                    "subscription_id": SUBSCRIPTION, "resource_group": "rg-other", "tenant_id": TENANT,
                    "location": "westeurope", "resource_name": "moved"}}


def _auth(fake):
    return {"subscription_id": SUBSCRIPTION, "client_id": CLIENT_ID, "secret": SECRET, "tenant": TENANT,
            "authority": fake.url, "arm_endpoint": fake.url, "disable_instance_discovery": True,
            "ca_bundle": fake.ca, "request_retries": 0}


def _hosts(fake, packages, faults=True, **extra):
    connect = dict(_auth(fake), resource_group="rg-arc", location="westeurope", tags={"env": "lab"}, **extra)
    hosts = {
        "w19": {"profile": W19, "args": dict(connect, installer=packages["arc_msi"])},
        "deb": {"profile": DEB, "state": {"repository": "prod"}, "args": connect},
        "moved": {"profile": W19, "state": OTHER_RG, "args": dict(connect, resource_name="moved")},
    }
    for name, (fault, _phrase) in FAULTS.items():
        hosts[f"f-{name}"] = {"profile": W19, "faults": [fault] if faults else [],
                              "args": dict(connect, installer=packages["arc_msi"])}
    return hosts


def _run(lab, tmp_path, fake, hosts, *args, name="run"):
    spec = {host: {"profile": h["profile"], "state": h.get("state"), "faults": h.get("faults"),
                   "vars": {"mde_test_module": "arc_connect", "mde_test_args": h["args"]}}
            for host, h in hosts.items()}
    out = tmp_path / name
    out.mkdir(exist_ok=True)
    proc = lab.playbook(PLAYBOOK, *args, inventory=inventory(tmp_path, spec, f"{name}.json"),
                        MDE_TEST_OUT=str(out), MDE_LAB_ARM_URL=fake.url, MDE_LAB_ARM_CA=fake.ca)
    results = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    return proc, results


def _machine(fake, name, rg="rg-arc"):
    return fake.resource(f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{rg}/providers/Microsoft.HybridCompute/"
                         f"machines/{name}")


def _applies(lab, host):
    return [c for c in lab.executions(host) if c.get("operation") == "apply"]


def test_every_documented_agent_fault_has_a_case():
    assert {fault for fault, _phrase in FAULTS.values()} == {f for f in documented_faults() if f.startswith("arc_")}


def test_arc_connect_end_to_end_on_the_lab_with_the_fake_arm(lab, packages, tmp_path):
    fake = FakeAzure(tmp_path / "azure")
    fake.start()
    try:
        fake.add_resource_group("rg-arc")
        outputs = []
        hosts = _hosts(fake, packages)

        # Check mode first: the plan is shown, no sign-in is made, nothing changes on any host or in Azure.
        proc, planned = _run(lab, tmp_path, fake, hosts, "--check", "--diff", "-vvv", name="check")
        outputs.append(proc.stdout + proc.stderr)
        assert planned["w19"]["changed"] and [s["name"] for s in planned["w19"]["steps"]] == [
            "install_arc_agent", "arc_connect"], planned["w19"]
        assert not [r for r in fake.requests() if r["path"].endswith("/token")], "check mode signed in"
        assert not _applies(lab, "w19") and not [c for c in lab.calls("w19") if "transfer" in c]

        proc, first = _run(lab, tmp_path, fake, hosts, "-vvv", name="first")
        outputs.append(proc.stdout + proc.stderr)
        for host in ("w19", "deb"):
            result = first[host]
            assert result.get("changed") and not result.get("failed"), result
            assert result["arc"]["status"] == "Connected" and result["arc"]["resource_group"] == "rg-arc"
            machine = _machine(fake, host)
            assert machine and machine["tags"] == {"env": "lab"}, machine
            assert result["resource_id"].lower() == machine["id"].lower()
        assert [s["name"] for s in first["deb"]["steps"]] == ["install_arc_agent", "arc_connect"]
        # The machine connected elsewhere is refused after the probe alone, and stays where it was.
        assert first["moved"]["failed"] and "allow_move: true" in first["moved"]["msg"]
        assert not _applies(lab, "moved") and lab.state("moved")["arc"]["resource_group"] == "rg-other"
        for name, (_fault, phrase) in FAULTS.items():
            result = first[f"f-{name}"]
            assert result.get("failed") and phrase in result["msg"], (name, result)
            assert result["failed_step"] == "arc_connect" and "\n" not in result["msg"]
            assert _machine(fake, f"f-{name}") is None
            assert lab.state(f"f-{name}")["arc"]["status"] != "Connected"   # no worse: nothing half-connected

        # The re-run: nothing to do, one remote execution per connected host.
        calls_before = {host: len(lab.executions(host)) for host in ("w19", "deb")}
        proc, second = _run(lab, tmp_path, fake, dict((h, hosts[h]) for h in ("w19", "deb")), "-vvv", name="second")
        outputs.append(proc.stdout + proc.stderr)
        for host in ("w19", "deb"):
            assert second[host]["changed"] is False and not second[host].get("failed"), second[host]
            assert len(lab.executions(host)) == calls_before[host] + 1

        # The faults cleared: every faulty host converges on the next run, and stays converged.
        cleared = _hosts(fake, packages, faults=False)
        faulty = {h: cleared[h] for h in cleared if h.startswith("f-")}
        proc, mended = _run(lab, tmp_path, fake, faulty, name="mended")
        outputs.append(proc.stdout + proc.stderr)
        for host in faulty:
            assert mended[host].get("changed") and not mended[host].get("failed"), (host, mended[host])
            assert _machine(fake, host) is not None

        # allow_move: disconnected from rg-other, connected to rg-arc.
        fake.add_resource_group("rg-other")
        moved = {"moved": dict(hosts["moved"], args=dict(hosts["moved"]["args"], allow_move=True))}
        proc, move = _run(lab, tmp_path, fake, moved, name="move")
        assert [s["name"] for s in move["moved"]["steps"]] == ["arc_disconnect", "arc_connect"], move["moved"]
        assert move["moved"]["arc"]["resource_group"] == "rg-arc" and _machine(fake, "moved")

        # Disconnect in check mode: planned, nothing sent to the host but the probe, no request to Azure.
        absent = {"w19": {"profile": W19, "args": dict(_auth(fake), state="absent")}}
        before, requests = lab.state_bytes("w19"), len(fake.requests())
        proc, dry = _run(lab, tmp_path, fake, absent, "--check", name="absent-check")
        assert dry["w19"]["changed"] and [s["name"] for s in dry["w19"]["steps"]] == ["arc_disconnect"]
        assert lab.state_bytes("w19") == before and len(fake.requests()) == requests

        # Disconnect: the Azure resource is deleted; again: nothing to do.
        proc, gone = _run(lab, tmp_path, fake, absent, "-vvv", name="absent")
        outputs.append(proc.stdout + proc.stderr)
        assert gone["w19"]["changed"] and not gone["w19"].get("failed"), gone["w19"]
        assert _machine(fake, "w19") is None and gone["w19"]["arc"]["status"] != "Connected"
        proc, again = _run(lab, tmp_path, fake, absent, name="absent-again")
        assert again["w19"]["changed"] is False

        tokens = list(fake.tokens)
        assert tokens, "the fake issued no token: nothing was signed in"
        lab_files = [p.read_text() for p in lab.state_dir.rglob("*") if p.is_file()]
        results = json.dumps([first, second, mended, move, gone, planned])
        for secret in [SECRET] + tokens:
            for text in outputs + lab_files + [results, fake.log_path.read_text()]:
                assert secret not in text
    finally:
        fake.stop()


def test_arc_installer_reaches_the_host_checked(lab, packages, tmp_path):
    """A tampered agent MSI is refused on the host by its signature, the agent stays absent; the host is no worse."""
    fake = FakeAzure(tmp_path / "azure")
    fake.start()
    try:
        fake.add_resource_group("rg-arc")
        hosts = {"w19": {"profile": W19, "faults": ["installer_unsigned"],
                         "args": dict(_auth(fake), resource_group="rg-arc", location="westeurope",
                                      installer=packages["arc_msi"])}}
        _proc, results = _run(lab, tmp_path, fake, hosts)
        result = results["w19"]
        assert result["failed"] and result["failed_step"] == "install_arc_agent" and "Authenticode" in result["msg"]
        assert lab.state("w19")["arc"]["installed"] is False and _machine(fake, "w19") is None
    finally:
        fake.stop()
