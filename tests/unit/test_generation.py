"""R-01: the generation comes from the host's own OS facts."""

from __future__ import annotations

import pytest

from ansible_collections.defender.endpoint.plugins.plugin_utils.core.generation import classify


def win(version, build, product_type=3, sp=0, edition="ServerStandard", installation_type="Server", ubr=0):
    return {"platform": "windows", "os": {"version": version, "build": build, "product_type": product_type,
                                          "service_pack": sp, "edition": edition, "ubr": ubr,
                                          "installation_type": installation_type, "architecture": "64-bit"}}


@pytest.mark.parametrize("facts, generation", [
    (win("6.1.7601", 7601, 1, 1, "Enterprise", "Client"), "downlevel"),
    (win("6.1.7601", 7601, 1, 1, "Professional", "Client"), "downlevel"),
    (win("6.3.9600", 9600, 1, 0, "Professional", "Client"), "downlevel"),
    (win("6.1.7601", 7601, 3, 1), "downlevel"),
    (win("6.3.9600", 9600), "unified"),
    (win("10.0.14393", 14393), "unified"),
    (win("10.0.17134", 17134), "modern"),
    (win("10.0.17763", 17763), "modern"),
    (win("10.0.17763", 17763, edition="ServerDatacenterCor", installation_type="Server Core"), "modern"),
    (win("10.0.20348", 20348), "modern"),
    (win("10.0.26100", 26100), "modern"),
    (win("10.0.17763", 17763, product_type=2), "modern"),  # a domain controller is a server
])
def test_supported(facts, generation):
    assert classify(facts).generation == generation


@pytest.mark.parametrize("facts, words", [
    (win("6.1.7600", 7600), ["Windows Server 2008 R2", "Service Pack 1"]),
    (win("6.0.6002", 6002, sp=2), ["Windows Server 2008 SP2"]),
    (win("6.2.9200", 9200), ["Windows Server 2012 (version 6.2.9200, build 9200)"]),
    (win("10.0.19045", 19045, 1, 0, "Enterprise", "Client"), ["Windows 10", "client path"]),
    (win("6.1.7601", 7601, 1, 1, "HomePremium", "Client"), ["Windows 7 SP1 HomePremium", "Pro or Enterprise"]),
    (win("6.3.9600", 9600, 1, 0, "Core", "Client"), ["Windows 8.1", "Pro or Enterprise"]),
    (win("10.0.16299", 16299), ["Windows Server 1709"]),
])
def test_unsupported_names_the_os_and_the_supported_list(facts, words):
    result = classify(facts)
    assert result.generation == "unsupported"
    for word in words:
        assert word in result.unsupported_reason
    assert "supported: Windows 7 SP1" in result.unsupported_reason and "2025" in result.unsupported_reason


def linux(os_id, version, arch="x86_64"):
    return {"platform": "linux", "os": {"id": os_id, "version_id": version, "architecture": arch,
                                        "pretty_name": f"{os_id} {version}"}}


@pytest.mark.parametrize("facts, generation", [
    (linux("ubuntu", "22.04"), "linux"), (linux("debian", "12"), "linux"), (linux("rhel", "9.4"), "linux"),
    (linux("rhel", "7.1"), "unsupported"), (linux("ubuntu", "14.04"), "unsupported"),
    (linux("gentoo", "2.14"), "unsupported"), (linux("ubuntu", "22.04", "s390x"), "unsupported"),
])
def test_linux(facts, generation):
    assert classify(facts).generation == generation


def test_unknown_platform():
    assert classify({"platform": "aix"}).generation == "unsupported"


def test_group_names_play_no_part():
    facts = win("6.2.9200", 9200)
    facts["groups"] = ["windows_server_2019"]
    assert classify(facts).generation == "unsupported"
