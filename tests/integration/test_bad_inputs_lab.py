"""Bad inputs are refused in one sentence before any change; the valid controls beside them pass.

A table-driven matrix, grouped by module: for every option a wrong type, an empty value and a contradictory
partner, and the cases of issue 13. Each case is one lab host; one ansible-playbook run (in check mode: a case that
slipped through shows as not failed) serves every case. A refusal may come after the probe (the host's
generation decides some), never after an apply or a file copy: the lab's calls.jsonl says which ran.
"""

from __future__ import annotations

import json
import os
import zipfile

import package_factory
from conftest import ROOT
from windows_lab import inventory

PLAYBOOK = ROOT / "tests" / "integration" / "playbooks" / "module_per_host.yml"
WS = package_factory.MDE_WORKSPACE_ID
KEY = package_factory.FAKE_WORKSPACE_KEY
ORG = package_factory.FAKE_ORG
W19, W16, W08, DEB = "windows_server_2019", "windows_server_2016", "windows_server_2008_r2_sp1", "debian_12"
ONBOARDED_WIN = {"onboarded_org": ORG}
ONBOARDED_LINUX = {"mdatp": {"installed": True, "version": "101.24082.0004", "onboarded_org": ORG},
                   "repository": "prod"}
ARC_SUB = "20ff7fc3-e762-44dd-bd96-b71116dcdc23"
MMA = {"mma": {"installed": True, "version": "10.20.18067.0", "workspaces": []}}


def _files(packages, tmp_path):
    big_zip = tmp_path / "big" / "WindowsDefenderATPOnboardingPackage.zip"
    big_zip.parent.mkdir()
    with zipfile.ZipFile(big_zip, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("WindowsDefenderATPOnboardingScript.cmd", "rem " + "x" * (2 << 20))
    bad_org = tmp_path / "bad-org" / "WindowsDefenderATPOnboardingScript.cmd"
    bad_org.parent.mkdir()
    bad_org.write_text(open(packages["win_onboard_cmd"], newline="").read().replace(ORG, "not-a-guid-at-all"),
                       newline="")
    edr = tmp_path / "edr" / "mde_linux_edr_diy.sh"
    edr.parent.mkdir()
    edr.write_text("#!/bin/bash\necho edr\n")
    return {"big_zip": str(big_zip), "bad_org": str(bad_org), "dir": str(tmp_path), "edr": str(edr),
            "missing": str(tmp_path / "no-such-file.msi")}


def _mde_onboard(p, f):
    """(profile, state, args, phrase): phrase of the one-sentence refusal, or None for a valid control."""
    win, lin, msi, mma = p["win_onboard_zip"], p["linux_onboard_py"], p["md4ws_msi"], p["mma_setup"]
    down = {"installer": mma, "workspace_id": WS, "workspace_key": KEY}
    uni = {"onboarding_package": [win], "installer": msi}
    return {
        # state
        "state-choice": (W19, None, {"state": "onboarded", "onboarding_package": [win]}, "value of state must be one of"),
        "state-empty": (W19, None, {"state": "", "onboarding_package": [win]}, "state is empty"),
        "state-list": (W19, None, {"state": ["present"], "onboarding_package": [win]}, "state must be one value"),
        # onboarding_package / offboarding_package
        "pkg-missing": (W19, None, {}, "set onboarding_package"),
        "pkg-empty": (W19, None, {"onboarding_package": ""}, "onboarding_package is empty"),
        "pkg-dict": (W19, None, {"onboarding_package": {"a": win}}, "onboarding_package must be a list, not a dict"),
        "pkg-dir": (W19, None, {"onboarding_package": [f["dir"]]}, "is a directory"),
        "pkg-absent-file": (W19, None, {"onboarding_package": [f["missing"]]}, "does not exist"),
        "pkg-wrong-kind": (W19, None, {"onboarding_package": [p["win_offboard_cmd"]]}, "offboarding"),
        "pkg-wrong-platform": (W19, None, {"onboarding_package": [lin]}, "has no windows package"),
        "pkg-org-not-guid": (W19, None, {"onboarding_package": [f["bad_org"]]}, "without a valid orgId"),
        "pkg-zip-bomb": (W19, None, {"onboarding_package": [f["big_zip"]]}, "larger than 1 MiB"),
        "pkg-corrupt-zip": (W19, None, {"onboarding_package": [p["corrupt_zip"]]}, "not a readable zip"),
        "offpkg-empty": (W19, ONBOARDED_WIN, {"state": "absent", "offboarding_package": ""},
                         "offboarding_package is empty"),
        "offpkg-needed": (W19, ONBOARDED_WIN, {"state": "absent"}, "set offboarding_package"),
        "offpkg-with-present": (W19, None, {"onboarding_package": [win], "offboarding_package": [p["win_offboard_cmd"]]},
                                "offboarding_package applies to state=absent"),
        "onpkg-with-absent": (W19, ONBOARDED_WIN, {"state": "absent", "onboarding_package": [win],
                                                   "offboarding_package": [p["win_offboard_cmd"]]},
                              "onboarding_package applies to state=present"),
        # passive_mode
        "passive-junk": (W19, None, {"onboarding_package": [win], "passive_mode": "sometimes"}, "passive_mode"),
        "passive-empty": (W19, None, {"onboarding_package": [win], "passive_mode": ""}, "passive_mode"),
        "passive-false-beside-av": (W19, {"third_party_av": ["SentinelAgent"]},
                                    {"onboarding_package": [win], "passive_mode": False}, "must run in passive mode"),
        # installer / installer_remote
        "installer-list": (W16, None, dict(uni, installer=[msi, mma]), "installer must be one value"),
        "installer-empty": (W16, None, dict(uni, installer=""), "installer is empty"),
        "installer-dir": (W16, None, dict(uni, installer=f["dir"]), "is a directory"),
        "installer-missing": (W16, None, dict(uni, installer=f["missing"]), "does not exist on the controller"),
        "installer-mma-for-md4ws": (W16, None, dict(uni, installer=mma), "is a Windows executable"),
        "installer-msi-for-mma": (W08, None, dict(down, installer=msi), "is a Windows Installer package"),
        "installer-needed": (W16, None, {"onboarding_package": [win]}, "needs md4ws.msi to be installed"),
        "remote-missing": (W16, None, dict(uni, installer="C:\\share\\md4ws.msi", installer_remote=True),
                           "does not exist on the host"),
        "remote-junk": (W16, None, dict(uni, installer_remote="perhaps"), "installer_remote"),
        "remote-without-installer": (W16, None, {"onboarding_package": [win], "installer_remote": True},
                                     "installer_remote is True but all of the following are missing: installer"),
        # workspace_id / workspace_key / cloud / remove_mma_workspace
        "ws-not-guid": (W08, None, dict(down, workspace_id="xyz"), "workspace_id must be a GUID"),
        "ws-empty": (W08, None, dict(down, workspace_id=""), "workspace_id is empty"),
        "ws-list": (W08, None, dict(down, workspace_id=[WS]), "workspace_id must be one value"),
        "ws-without-key": (W08, None, {"installer": mma, "workspace_id": WS}, "workspace_key"),
        "key-without-ws": (W08, None, {"installer": mma, "workspace_key": KEY}, "required by 'workspace_key': workspace_id"),
        "key-empty": (W08, None, dict(down, workspace_key=""), "workspace_key is empty"),
        "key-list": (W08, None, dict(down, workspace_key=[KEY]), "workspace_key must be one value"),
        "cloud-choice": (W08, None, dict(down, cloud="azure-china"), "value of cloud must be one of"),
        "cloud-empty": (W08, None, dict(down, cloud=""), "cloud is empty"),
        "rm-ws-not-guid": (W16, None, dict(uni, remove_mma_workspace="garbage"), "remove_mma_workspace must be a GUID"),
        "rm-ws-empty": (W16, None, dict(uni, remove_mma_workspace=""), "remove_mma_workspace is empty"),
        "rm-ws-with-absent": (W16, ONBOARDED_WIN,
                              {"state": "absent", "offboarding_package": [p["win_offboard_cmd"]],
                               "remove_mma_workspace": WS},
                              "remove_mma_workspace applies to state=present"),
        "ws-key-for-modern": (W19, None, {"onboarding_package": [win], "workspace_key": KEY}, "workspace_id"),
        # allow_org_change / uninstall
        "org-change-junk": (W19, None, {"onboarding_package": [win], "allow_org_change": "maybe"}, "allow_org_change"),
        "present-uninstall": (W19, None, {"onboarding_package": [win], "uninstall": True},
                              "uninstall applies to state=absent"),
        "uninstall-junk": (W19, None, {"state": "absent", "uninstall": "yes please"}, "uninstall"),
        # step_timeout / health_timeout
        "timeout-short": (W19, None, {"onboarding_package": [win], "step_timeout": 5}, "at least 30"),
        "timeout-text": (W19, None, {"onboarding_package": [win], "step_timeout": "long"}, "step_timeout"),
        "timeout-empty": (W19, None, {"onboarding_package": [win], "step_timeout": ""}, "step_timeout"),
        "health-negative": (DEB, None, {"onboarding_package": [lin], "health_timeout": -1}, "cannot be negative"),
        "health-text": (DEB, None, {"onboarding_package": [lin], "health_timeout": "soon"}, "health_timeout"),
        # extra_av_services
        "av-dict": (W19, None, {"onboarding_package": [win], "extra_av_services": {"a": 1}}, "extra_av_services"),
        "av-empty-name": (W19, None, {"onboarding_package": [win], "extra_av_services": [""]},
                          "extra_av_services holds an empty name"),
        # network_protection / intermediate_ca_certificate / scep_cloud_protection
        "np-junk": (W19, None, {"onboarding_package": [win], "network_protection": "on-ish"}, "network_protection"),
        "ca-empty": ("windows_server_2012_r2", None, dict(uni, intermediate_ca_certificate=""),
                     "intermediate_ca_certificate is empty"),
        "ca-dir": ("windows_server_2012_r2", None, dict(uni, intermediate_ca_certificate=f["dir"]), "directory"),
        "ca-not-a-cert": ("windows_server_2012_r2", None, dict(uni, intermediate_ca_certificate=msi), "certificate"),
        "scep-junk": (W08, None, dict(down, scep_cloud_protection="advanced"), "scep_cloud_protection"),
        # Linux options
        "conflicts-junk": (DEB, None, {"onboarding_package": [lin], "allow_conflicts": "ok"}, "allow_conflicts"),
        "repo-junk": (DEB, None, {"onboarding_package": [lin], "mdatp_repository": "microsoft"}, "mdatp_repository"),
        "channel-choice": (DEB, None, {"onboarding_package": [lin], "mdatp_channel": "beta"},
                           "value of mdatp_channel must be one of"),
        "repo-url-not-url": (DEB, None, {"onboarding_package": [lin], "mdatp_repository_url": "not a url"},
                             "mdatp_repository_url must be a URL"),
        "repo-url-empty": (DEB, None, {"onboarding_package": [lin], "mdatp_repository_url": ""},
                           "mdatp_repository_url is empty"),
        "repo-url-http": (DEB, None, {"onboarding_package": [lin], "mdatp_repository_url": "http://mirror.example"},
                          "plain http"),
        "repo-url-list": (DEB, None, {"onboarding_package": [lin], "mdatp_repository_url": ["https://a.example"]},
                          "mdatp_repository_url must be one value"),
        "repo-url-without-repo": (DEB, None, {"onboarding_package": [lin], "mdatp_repository": False,
                                              "mdatp_repository_url": "https://mirror.example"},
                                  "mdatp_repository_url is set but mdatp_repository is false"),
        "insecure-junk": (DEB, None, {"onboarding_package": [lin], "allow_insecure_repository": "trust me"},
                          "allow_insecure_repository"),
        "version-junk": (DEB, None, {"onboarding_package": [lin], "mdatp_version": "latest please"},
                         "mdatp_version must be a package version"),
        "version-empty": (DEB, None, {"onboarding_package": [lin], "mdatp_version": ""}, "mdatp_version is empty"),
        "version-list": (DEB, None, {"onboarding_package": [lin], "mdatp_version": ["101.1"]},
                         "mdatp_version must be one value"),
        "proxy-junk": (DEB, None, {"onboarding_package": [lin], "proxy": "not a proxy"}, "proxy must be a proxy URL"),
        "proxy-no-port": (DEB, None, {"onboarding_package": [lin], "proxy": "http://proxy.example"},
                          "proxy must be a proxy URL"),
        "proxy-list": (DEB, None, {"onboarding_package": [lin], "proxy": ["http://p.example:3128"]},
                       "proxy must be one value"),
        "linux-unknown-option": (DEB, None, {"onboarding_package": [lin], "mdatp_chanel": "prod"}, "mdatp_chanel"),
        # valid controls
        "ok-proxy-removed": (DEB, None, {"onboarding_package": [lin], "proxy": ""}, None),
        "ok-proxy": (DEB, None, {"onboarding_package": [lin], "proxy": "http://proxy.example:3128/"}, None),
        "ok-proxy-credentials": (DEB, None, {"onboarding_package": [lin],
                                             "proxy": "http://user:pa%40ss@proxy.example:3128/"}, None),
        "ok-http-allowed": (DEB, None, {"onboarding_package": [lin], "mdatp_repository_url": "http://mirror.example",
                                        "allow_insecure_repository": True}, None),
        "ok-version": (DEB, None, {"onboarding_package": [lin], "mdatp_version": "101.25012.0000"}, None),
        "ok-ws-upper": (W08, None, dict(down, workspace_id=WS.upper()), None),
        "ok-unified": (W16, None, uni, None),
        "ok-both-platforms": (DEB, None, {"onboarding_package": [win, lin]}, None),
    }


def _other_modules(p, f):
    return {
        "mde_info": {
            "info-av-dict": (W19, None, {"extra_av_services": {"a": 1}}, "extra_av_services"),
            "info-av-empty-name": (W19, None, {"extra_av_services": [""]}, "extra_av_services holds an empty name"),
            "info-av-nested": (W19, None, {"extra_av_services": [["SentinelAgent"]]}, "must be a list of single values"),
            "info-unknown": (W19, None, {"verbose": True}, "verbose"),
            "info-ok": (W19, None, {}, None),
            "info-ok-av": (DEB, None, {"extra_av_services": ["SentinelAgent"]}, None),
        },
        "defender_passive_mode": {
            "pm-missing": (W19, ONBOARDED_WIN, {}, "enabled"),
            "pm-junk": (W19, ONBOARDED_WIN, {"enabled": "garbage"}, "enabled"),
            "pm-empty": (W19, ONBOARDED_WIN, {"enabled": ""}, "enabled"),
            "pm-list": (W19, ONBOARDED_WIN, {"enabled": [True]}, "enabled"),
            "pm-force-junk": (W19, ONBOARDED_WIN, {"enabled": False, "force": "hard"}, "force"),
            "pm-force-with-enabled": (W19, ONBOARDED_WIN, {"enabled": True, "force": True},
                                      "force applies to enabled: false"),
            "pm-av-dict": (W19, ONBOARDED_WIN, {"enabled": True, "extra_av_services": {"x": 1}}, "extra_av_services"),
            "pm-leave-beside-av": (DEB, dict(ONBOARDED_LINUX, fanotify_conflicts=[{"pid": 7, "comm": "falcon-sensor"}]),
                                   {"enabled": False}, "set force: true"),
            "pm-ok": (W19, ONBOARDED_WIN, {"enabled": True}, None),
            "pm-ok-linux": (DEB, ONBOARDED_LINUX, {"enabled": True}, None),
        },
        "mma_workspace": {
            "mma-ws-missing": (W08, MMA, {"workspace_key": KEY}, "workspace_id"),
            "mma-ws-not-guid": (W08, MMA, {"workspace_id": "xyz"}, "workspace_id must be a GUID"),
            "mma-ws-empty": (W08, MMA, {"workspace_id": ""}, "workspace_id is empty"),
            "mma-ws-list": (W08, MMA, {"workspace_id": [WS]}, "workspace_id must be one value"),
            "mma-key-empty": (W08, MMA, {"workspace_id": WS, "workspace_key": ""}, "workspace_key is empty"),
            "mma-key-needed": (W08, MMA, {"workspace_id": WS}, "workspace_key"),
            "mma-key-with-absent": (W08, MMA, {"workspace_id": WS, "state": "absent", "workspace_key": KEY},
                                    "workspace_key applies to state=present"),
            "mma-proxy-with-absent": (W08, MMA, {"workspace_id": WS, "state": "absent", "proxy_url": "p.example:3128"},
                                      "proxy_url applies to state=present"),
            "mma-state-choice": (W08, MMA, {"workspace_id": WS, "state": "gone"}, "value of state must be one of"),
            "mma-cloud-choice": (W08, MMA, {"workspace_id": WS, "workspace_key": KEY, "cloud": "gov"},
                                 "value of cloud must be one of"),
            "mma-proxy-junk": (W08, MMA, {"workspace_id": WS, "proxy_url": "not a proxy"},
                               "proxy_url must be a proxy URL"),
            "mma-proxy-list": (W08, MMA, {"workspace_id": WS, "proxy_url": ["p:3128"]}, "proxy_url must be one value"),
            "mma-user-without-url": (W08, MMA, {"workspace_id": WS, "workspace_key": KEY, "proxy_username": "u"},
                                     "required by 'proxy_username': proxy_url"),
            "mma-password-without-user": (W08, MMA, {"workspace_id": WS, "workspace_key": KEY,
                                                     "proxy_url": "proxy.example:3128", "proxy_password": "pw"},
                                          "required by 'proxy_password': proxy_username"),
            "mma-reconfigure-junk": (W08, MMA, {"workspace_id": WS, "reconfigure": "again"}, "reconfigure"),
            "mma-linux": (DEB, None, {"workspace_id": WS, "workspace_key": KEY}, "not Windows"),
            "mma-ok": (W08, MMA, {"workspace_id": WS, "workspace_key": KEY, "proxy_url": "proxy.example:3128"}, None),
        },
        "mde_detection_test": {
            "det-timeout-text": (W19, ONBOARDED_WIN, {"timeout": "soon"}, "timeout"),
            "det-timeout-zero": (W19, ONBOARDED_WIN, {"timeout": 0}, "at least 1"),
            "det-timeout-empty": (W19, ONBOARDED_WIN, {"timeout": ""}, "timeout"),
            "det-edr-empty": (DEB, ONBOARDED_LINUX, {"edr_script": ""}, "edr_script is empty"),
            "det-edr-list": (DEB, ONBOARDED_LINUX, {"edr_script": [f["edr"]]}, "edr_script must be one value"),
            "det-edr-dir": (DEB, ONBOARDED_LINUX, {"edr_script": f["dir"]}, "is a directory"),
            "det-edr-missing": (DEB, ONBOARDED_LINUX, {"edr_script": f["missing"]}, "does not exist"),
            "det-edr-timeout-negative": (DEB, ONBOARDED_LINUX, {"edr_script": f["edr"], "edr_timeout": -5},
                                         "at least 1"),
            "det-edr-timeout-without-script": (DEB, ONBOARDED_LINUX, {"edr_timeout": 60},
                                               "edr_timeout is set but edr_script is not"),
            "det-not-onboarded": (W19, None, {}, "not onboarded"),
            "det-ok": (W19, ONBOARDED_WIN, {}, None),
            "det-ok-linux": (DEB, ONBOARDED_LINUX, {"timeout": 5}, None),
        },
    }


def _arc_connect(p, f):
    """arc_connect in check mode: no sign-in is made, so the fake credentials below never leave the controller."""
    auth = {"subscription_id": ARC_SUB, "client_id": ARC_SUB, "secret": "not-sent", "tenant": ARC_SUB}
    ok = dict(auth, resource_group="rg-arc", location="westeurope", installer=p["md4ws_msi"])
    elsewhere = {"arc": {"installed": True, "status": "Connected", "subscription_id": ARC_SUB,
                         "resource_group": "rg-other", "tenant_id": ARC_SUB, "location": "westeurope",
                         "resource_name": "old"}}
    return {
        "arc-state-choice": (W19, None, dict(ok, state="connected"), "value of state must be one of"),
        "arc-rg-missing": (W19, None, dict(auth, location="westeurope"), "resource_group"),
        "arc-location-missing": (W19, None, dict(auth, resource_group="rg-arc"), "location"),
        "arc-rg-invalid": (W19, None, dict(ok, resource_group="rg/arc"), "is not a valid name"),
        "arc-rg-empty": (W19, None, dict(ok, resource_group=""), "resource_group is empty"),
        "arc-location-display": (W19, None, dict(ok, location="West Europe"), "location must be an Azure region"),
        "arc-name-invalid": (W19, None, dict(ok, resource_name="srv:01"), "cannot be the name of an Arc machine"),
        "arc-tenant-not-guid": (W19, None, dict(ok, tenant_id="contoso"), "tenant_id must be a GUID"),
        "arc-correlation-not-guid": (W19, None, dict(ok, correlation_id="42"), "correlation_id must be a GUID"),
        "arc-tags-comma": (W19, None, dict(ok, tags={"env": "a,b"}), "cannot be given to the agent"),
        "arc-tags-number": (W19, None, dict(ok, tags={"cost": 12}), "cannot be given to the agent"),
        "arc-proxy-junk": (W19, None, dict(ok, proxy="not a proxy"), "proxy must be a proxy URL"),
        "arc-proxy-credentials": (W19, None, dict(ok, proxy="http://u:pw@proxy.example:3128"),
                                  "without credentials"),
        "arc-pls-invalid": (W19, None, dict(ok, private_link_scope="my-scope"), "private_link_scope must be"),
        "arc-absent-with-rg": (W19, None, dict(auth, state="absent", resource_group="rg-arc"),
                               "resource_group applies to state=present"),
        "arc-absent-allow-move": (W19, None, dict(auth, state="absent", allow_move=True),
                                  "allow_move applies to state=present"),
        "arc-present-force-local": (W19, None, dict(ok, force_local_only=True),
                                    "force_local_only applies to state=absent"),
        "arc-allow-move-junk": (W19, None, dict(ok, allow_move="maybe"), "allow_move"),
        "arc-timeout-low": (W19, None, dict(ok, step_timeout=5), "at least 30"),
        "arc-installer-dir": (W19, None, dict(ok, installer=f["dir"]), "is a directory"),
        "arc-installer-missing": (W19, None, dict(ok, installer=f["missing"]), "does not exist"),
        "arc-installer-not-msi": (W19, None, dict(ok, installer=p["mma_setup"]), "not a Windows Installer package"),
        "arc-installer-msi-on-linux": (DEB, None, dict(ok), "not a .deb or .rpm package"),
        "arc-no-subscription": (W19, None, {k: v for k, v in ok.items() if k != "subscription_id"},
                                "no subscription"),
        "arc-subscription-not-guid": (W19, None, dict(ok, subscription_id="prod"), "subscription_id must be a GUID"),
        "arc-china": (W19, None, dict(ok, cloud_environment="AzureChinaCloud"), "not supported"),
        "arc-azure-vm": (W19, {"azure_vm": True}, ok, "Azure virtual machine"),
        "arc-elsewhere": (W19, elsewhere, ok, "allow_move: true"),
        "arc-no-installer": (W19, None, {k: v for k, v in ok.items() if k != "installer"},
                             "no installer was given"),
        "arc-linux-no-repository": (DEB, None, {k: v for k, v in ok.items() if k != "installer"},
                                    "repository is not configured"),
        "arc-ok": (W19, None, ok, None),
        "arc-ok-move": (W19, elsewhere, dict(ok, allow_move=True), None),
        "arc-ok-linux": (DEB, {"repository": "prod"}, {k: v for k, v in ok.items() if k != "installer"}, None),
        "arc-ok-absent-local": (W19, elsewhere, {"state": "absent", "force_local_only": True}, None),
    }


def _cases(packages, tmp_path):
    files = _files(packages, tmp_path)
    cases = {"mde_onboard": _mde_onboard(packages, files)}
    cases.update(_other_modules(packages, files))
    cases["arc_connect"] = _arc_connect(packages, files)
    return cases


def _wrong(lab, module, cases, results):
    wrong = []
    for name, (_profile, _state, _args, phrase) in cases.items():
        result = results.get(name)
        if result is None:
            wrong.append(f"{module}/{name}: no result saved")
            continue
        msg = str(result.get("msg", ""))
        calls = lab.calls(name)
        if phrase is None:
            if result.get("failed"):
                wrong.append(f"{module}/{name}: valid control refused: {msg}")
            continue
        changed = [c for c in calls if "transfer" in c or c.get("operation") not in (None, "probe")]
        if not result.get("failed") or phrase.lower() not in msg.lower():
            wrong.append(f"{module}/{name}: expected a refusal with '{phrase}', got failed={result.get('failed')} "
                         f"{msg!r}")
        elif changed:
            wrong.append(f"{module}/{name}: refused after {changed}")
        elif "Traceback" in json.dumps(result) or "\n" in msg.strip() or msg.count(". ") > 1:
            wrong.append(f"{module}/{name}: not one sentence: {msg!r}")
    return wrong


def test_bad_input_matrix(lab, packages, tmp_path):
    """Every module's bad inputs refused in one sentence before any change, the valid controls accepted."""
    matrix = _cases(packages, tmp_path)
    bad = sum(1 for cases in matrix.values() for case in cases.values() if case[3] is not None)
    assert bad >= 80, f"only {bad} bad-input cases"
    hosts = {name: {"profile": profile, "state": state,
                    "vars": {"mde_test_module": module, "mde_test_args": args}}
             for module, cases in matrix.items() for name, (profile, state, args, _phrase) in cases.items()}
    proc, results = lab.run(PLAYBOOK, inventory(tmp_path, hosts), tmp_path / "out", "--check", "-f", "8")
    assert "Traceback" not in proc.stdout + proc.stderr
    wrong = []
    for module, cases in matrix.items():
        wrong += _wrong(lab, module, cases, results)
    assert not wrong, f"{len(wrong)} wrong:\n" + "\n".join(wrong)


def test_unreadable_package_is_one_sentence(monkeypatch, packages):
    """Root reads any file, so the permission error is simulated where the parser opens the file."""
    from ansible_collections.defender.endpoint.plugins.plugin_utils.packages import parse as _packages  # pylint: disable=import-outside-toplevel
    real_open = open

    def deny(path, *args, **kwargs):
        if os.fspath(path) == packages["win_onboard_cmd"]:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", deny)
    try:
        _packages.parse_package(packages["win_onboard_cmd"])
    except _packages.PackageError as exc:
        assert "cannot be read on the controller (Permission denied)" in str(exc)
    else:
        raise AssertionError("an unreadable package was accepted")
