"""Bad inputs are refused in one sentence before any remote execution; the valid controls beside them pass."""

from __future__ import annotations

import os
import zipfile

import package_factory
from windows_lab import ONBOARD, WORKSPACE, inventory

WS = package_factory.MDE_WORKSPACE_ID


def _onboard_cases(packages, tmp_path):
    big_zip = tmp_path / "big" / "WindowsDefenderATPOnboardingPackage.zip"
    big_zip.parent.mkdir()
    with zipfile.ZipFile(big_zip, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("WindowsDefenderATPOnboardingScript.cmd", "rem " + "x" * (2 << 20))
    bad_org = tmp_path / "bad-org" / "WindowsDefenderATPOnboardingScript.cmd"
    bad_org.parent.mkdir()
    bad_org.write_text(open(packages["win_onboard_cmd"], newline="").read().replace(
        package_factory.FAKE_ORG, "not-a-guid-at-all"), newline="")
    win, lin = packages["win_onboard_zip"], packages["linux_onboard_py"]
    mma = {"installer": packages["mma_setup"], "workspace_key": package_factory.FAKE_WORKSPACE_KEY}
    return {  # name: (profile, args, phrase of the refusal, or None for a valid control)
        "ws-not-guid": ("windows_server_2008_r2_sp1", dict(mma, workspace_id="xyz"), "workspace_id must be a GUID"),
        "rm-ws-not-guid": ("windows_server_2016", {"onboarding_package": [win], "installer": packages["md4ws_msi"],
                                                   "remove_mma_workspace": "garbage"},
                           "remove_mma_workspace must be a GUID"),
        "repo-not-url": ("debian_12", {"onboarding_package": [lin], "mdatp_repository_url": "not a url"},
                         "mdatp_repository_url must be a URL"),
        "repo-http": ("debian_12", {"onboarding_package": [lin], "mdatp_repository_url": "http://mirror.example"},
                      "plain http"),
        "version-junk": ("debian_12", {"onboarding_package": [lin], "mdatp_version": "latest please"},
                         "mdatp_version must be a package version"),
        "proxy-junk": ("debian_12", {"onboarding_package": [lin], "proxy": "not a proxy"}, "proxy must be a proxy URL"),
        "present-uninstall": ("windows_server_2019", {"onboarding_package": [win], "uninstall": True},
                              "uninstall applies to state=absent"),
        "package-dir": ("windows_server_2019", {"onboarding_package": [str(tmp_path)]}, "is a directory"),
        "installer-dir": ("windows_server_2016", {"onboarding_package": [win], "installer": str(tmp_path)},
                          "is a directory"),
        "org-not-guid": ("windows_server_2019", {"onboarding_package": [str(bad_org)]}, "without a valid orgId"),
        "zip-bomb": ("windows_server_2019", {"onboarding_package": [str(big_zip)]}, "larger than 1 MiB"),
        "timeout-short": ("windows_server_2019", {"onboarding_package": [win], "step_timeout": 5}, "at least 30"),
        # valid controls
        "ok-proxy-removed": ("debian_12", {"onboarding_package": [lin], "proxy": ""}, None),
        "ok-proxy": ("debian_12", {"onboarding_package": [lin], "proxy": "http://proxy.example:3128/"}, None),
        "ok-http-allowed": ("debian_12", {"onboarding_package": [lin], "mdatp_repository_url": "http://mirror.example",
                                          "allow_insecure_repository": True}, None),
        "ok-version": ("debian_12", {"onboarding_package": [lin], "mdatp_version": "101.25012.0000"}, None),
        "ok-ws": ("windows_server_2008_r2_sp1", dict(mma, workspace_id=WS.upper()), None),
    }


def _check(lab, cases, results):
    wrong = []
    for name, (_profile, _args, phrase) in cases.items():
        result, executions = results[name], lab.executions(name)
        if phrase is None:
            if result.get("failed"):
                wrong.append(f"{name}: valid control refused: {result.get('msg')}")
            continue
        msg = result.get("msg", "")
        if not result.get("failed") or phrase not in msg:
            wrong.append(f"{name}: expected a refusal with '{phrase}', got failed={result.get('failed')} {msg!r}")
        elif executions:
            wrong.append(f"{name}: refused after {len(executions)} remote execution(s)")
        elif "Traceback" in msg or msg.count(". ") > 1:
            wrong.append(f"{name}: not one sentence: {msg!r}")
    return wrong


def test_mde_onboard_bad_inputs(lab, packages, tmp_path):
    cases = _onboard_cases(packages, tmp_path)
    inv = inventory(tmp_path, {name: {"profile": profile, "vars": {"mde_test_args": args}}
                               for name, (profile, args, _phrase) in cases.items()})
    _proc, results = lab.run(ONBOARD, inv, tmp_path / "out", "--check")
    wrong = _check(lab, cases, results)
    assert not wrong, "\n".join(wrong)


def test_mma_workspace_bad_inputs(lab, tmp_path):
    cases = {
        "mma-ws-not-guid": ("windows_server_2008_r2_sp1", {"workspace_id": "xyz"}, "workspace_id must be a GUID"),
        "mma-proxy-junk": ("windows_server_2008_r2_sp1", {"workspace_id": WS, "proxy_url": "not a proxy"},
                           "proxy_url must be a proxy URL"),
        "mma-ok-proxy": ("windows_server_2008_r2_sp1", {"workspace_id": WS, "proxy_url": "proxy.example:3128",
                                                        "workspace_key": package_factory.FAKE_WORKSPACE_KEY}, None),
    }
    state = {"mma": {"installed": True, "version": "10.20.18067.0", "workspaces": []}}
    inv = inventory(tmp_path, {name: {"profile": profile, "state": state, "vars": {"mde_test_args": args}}
                               for name, (profile, args, _phrase) in cases.items()})
    _proc, results = lab.run(WORKSPACE, inv, tmp_path / "out", "--check")
    wrong = _check(lab, cases, results)
    assert not wrong, "\n".join(wrong)


def test_unreadable_package_is_one_sentence(monkeypatch, tmp_path, packages):
    """Root reads any file, so the permission error is simulated where the parser opens the file."""
    from ansible_collections.defender.endpoint.plugins.plugin_utils import _packages  # pylint: disable=import-outside-toplevel
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
