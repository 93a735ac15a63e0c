"""Package parsing on the controller (docs/packages.md; R-21, R-60)."""

from __future__ import annotations

import datetime
import pathlib
import re

import pytest

import package_factory
from ansible_collections.defender.endpoint.plugins.plugin_utils.packages.parse import (
    PackageError, filetime_to_datetime, parse_package)

ORG = package_factory.FAKE_ORG


@pytest.mark.parametrize("label, kind, platform, container", [
    ("win_onboard_cmd", "onboarding", "windows", "cmd"),
    ("win_onboard_zip", "onboarding", "windows", "zip"),
    ("win_offboard_cmd", "offboarding", "windows", "cmd"),
    ("linux_onboard_py", "onboarding", "linux", "py"),
    ("linux_onboard_json", "onboarding", "linux", "json"),
    ("linux_onboard_zip", "onboarding", "linux", "zip"),
    ("linux_offboard_py", "offboarding", "linux", "py"),
])
def test_reads_every_real_format(packages, label, kind, platform, container):
    info = parse_package(packages[label])
    assert (info.kind, info.platform, info.container, info.org_id) == (kind, platform, container, ORG)


def test_onboarding_body_fields(packages):
    info = parse_package(packages["win_onboard_zip"])
    assert info.member == "WindowsDefenderATPOnboardingScript.cmd"
    assert info.datacenter == "WestEurope"
    assert info.geo_location_url == "https://winatp-gw-weu.microsoft.com/"
    assert info.version == "2.01" and info.package_guid and info.expires is None


def test_other_org_is_read_as_other_org(packages):
    assert parse_package(packages["win_onboard_other_org_cmd"]).org_id == package_factory.OTHER_ORG


def test_summary_never_holds_the_signature(packages):
    for label in ("win_onboard_cmd", "linux_onboard_py", "win_offboard_cmd"):
        text = repr(parse_package(packages[label]).summary()) + repr(parse_package(packages[label]))
        assert package_factory.fake_signature(ORG) not in text
        assert "sig" not in parse_package(packages[label]).summary()


def test_offboarding_expiry_from_filetime(packages):
    info = parse_package(packages["win_offboard_cmd"])
    days = (info.expires - datetime.datetime.now(datetime.timezone.utc)).days
    assert 6 <= days <= 7 and not info.expired


def test_filetime_epoch():
    # 133108473269484019 is a real offboarding script's timestamp: 2022-10-21.
    assert filetime_to_datetime(133108473269484019).date() == datetime.date(2022, 10, 21)


def test_offboarding_expiry_from_file_name_when_body_lacks_it(tmp_path):
    path = tmp_path / "WindowsDefenderATPOffboardingScript_valid_until_2020-01-02.cmd"
    body_without_expiry = package_factory.offboarding_cmd(ORG, datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc))
    path.write_text(body_without_expiry.replace("expirationTimestamp", "noTimestamp"))
    with pytest.raises(PackageError, match="expired on 2020-01-03"):
        parse_package(str(path))


@pytest.mark.parametrize("label, expect_kind, expect_platform, message", [
    ("win_local_script_cmd", None, None, "interactive 'Local Script' onboarding package: it asks 'Press \\(Y\\)"),
    ("win_local_offboard_cmd", None, None, "interactive 'Local Script' offboarding package: it waits for a key"),
    ("win_intune_onboarding", None, None, "Intune / Configuration Manager onboarding file"),
    ("linux_onboard_py", "onboarding", "windows", "is a linux onboarding package, but this host runs windows"),
    ("win_onboard_cmd", "onboarding", "linux", "is a windows onboarding package, but this host runs linux"),
    ("win_offboard_cmd", "onboarding", "windows", "is an offboarding package where an onboarding package is needed"),
    ("win_offboard_expired_cmd", None, None, "expired on"),
    ("linux_offboard_expired_py", None, None, "expired on"),
    ("corrupt_zip", None, None, "not a readable zip archive"),
    ("no_blob_cmd", None, None, "holds no signed onboarding or offboarding blob"),
])
def test_refusals(packages, label, expect_kind, expect_platform, message):
    with pytest.raises(PackageError, match=message):
        parse_package(packages[label], expect_kind=expect_kind, expect_platform=expect_platform)


def test_missing_file_and_wrong_extension(tmp_path):
    with pytest.raises(PackageError, match="does not exist"):
        parse_package(str(tmp_path / "nope.cmd"))
    other = tmp_path / "package.txt"
    other.write_text("hello")
    with pytest.raises(PackageError, match="neither .cmd, .py, .json nor .zip"):
        parse_package(str(other))


def test_zip_without_script(tmp_path):
    path = package_factory.write_zip(str(tmp_path / "WindowsDefenderATPOnboardingPackage.zip"), {"readme.txt": "x"})
    with pytest.raises(PackageError, match="holds no onboarding or offboarding script"):
        parse_package(path)


def test_zip_holding_both_platforms_gives_each_host_its_own(tmp_path, packages):
    members = {"WindowsDefenderATPOnboardingScript.cmd": pathlib.Path(packages["win_onboard_cmd"]).read_text(),
               "MicrosoftDefenderATPOnboardingLinuxServer.py": pathlib.Path(packages["linux_onboard_py"]).read_text()}
    path = package_factory.write_zip(str(tmp_path / "both.zip"), members)
    windows = parse_package(path, "onboarding", "windows")
    linux = parse_package(path, "onboarding", "linux")
    assert (windows.platform, windows.member) == ("windows", "WindowsDefenderATPOnboardingScript.cmd")
    assert (linux.platform, linux.member) == ("linux", "MicrosoftDefenderATPOnboardingLinuxServer.py")
    assert parse_package(path).platform == "linux"     # no platform asked: the first script by name, as before


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_any_escaping_depth(tmp_path, depth):
    """The value after /d may be escaped more than once: parse it without assuming the depth."""
    blob = package_factory._blob(package_factory.onboarding_body(), "x")  # pylint: disable=protected-access
    for _level in range(depth):
        blob = package_factory.cmd_escape(blob)
    path = tmp_path / "WindowsDefenderATPOnboardingScript.cmd"
    path.write_text(f'reg add "HKLM\\X" /v OnboardingInfo /t REG_SZ /f /d "{blob}"\r\n')
    assert parse_package(str(path)).org_id == ORG


def test_generated_scripts_have_the_real_shape(packages):
    """The factory's scripts carry what the portal's do, so that these tests meet what users give."""
    for label in ("win_onboard_cmd", "win_local_script_cmd", "win_offboard_cmd"):
        raw = open(packages[label], "rb").read()
        assert b"Set /P errorMsg=<%TMP%\\senseTmp.txt" in raw, label
        assert b"timeout " in raw, label
        lines = raw.split(b"\n")[:-1]
        assert any(line.endswith(b"\r") for line in lines) and any(not line.endswith(b"\r") for line in lines), label
        payload = [line for line in lines if b"/t REG_SZ /f /d \"{" in line]
        assert len(payload) == 1 and not payload[0].endswith(b"\r"), f"{label}: the payload line ends in a bare LF"
        assert b'\\\\\\"orgId\\\\\\"' in payload[0], f"{label}: the body is escaped three levels deep"


@pytest.mark.parametrize("line", [
    "Set /P errorMsg=<%TMP%\\senseTmp.txt", "set /p errorMsg= <%WINDIR%\\temp\\senseTmp.txt", "\ttimeout 5 >NUL 2>&1",
    "\t%windir%\\System32\\timeout.exe 10 >NUL 2>&1", "echo pause is not a command here",
])
def test_file_reads_and_delays_are_not_prompts(tmp_path, packages, line):
    script = open(packages["win_onboard_cmd"], newline="").read().replace("@echo off\r\n", f"@echo off\r\n{line}\n", 1)
    path = tmp_path / "WindowsDefenderATPOnboardingScript.cmd"
    path.write_text(script, newline="")
    assert parse_package(str(path)).org_id == ORG


@pytest.mark.parametrize("line, reason", [
    ('set /p shouldContinue= "Press (Y) to confirm and continue or (N) to cancel and exit: "', "asks 'Press"),
    ("pause", "waits for a key"), ("PAUSE\r", "waits for a key"), ("@pause", "waits for a key"),
    ("GOTO USER_CONSENT", "loops on GOTO USER_CONSENT"),
])
def test_each_real_prompt_is_refused(tmp_path, packages, line, reason):
    script = open(packages["win_onboard_cmd"], newline="").read().replace("@echo off\r\n", f"@echo off\r\n{line}\n", 1)
    path = tmp_path / "WindowsDefenderATPOnboardingScript.cmd"
    path.write_text(script, newline="")
    with pytest.raises(PackageError, match=reason):
        parse_package(str(path))


def test_expired_local_offboarding_is_refused_as_expired(tmp_path):
    expired = datetime.datetime(2024, 2, 23, 12, 20, tzinfo=datetime.timezone.utc)
    path = tmp_path / "WindowsDefenderATPOffboardingScript_valid_until_2024-02-23.cmd"
    path.write_text(package_factory.offboarding_cmd(ORG, expired, interactive=True), newline="")
    with pytest.raises(PackageError, match="expired on 2024-02-23 12:20 UTC"):
        parse_package(str(path))


@pytest.mark.parametrize("name, text, message", [
    ("AtpConfiguration.admx", "<policyDefinitions/>", "administrative template"),
    ("AtpConfiguration.adml", "<policyDefinitionResources/>", "administrative template"),
    ("MicrosoftDefenderATPOnboardingMacOs.sh", "#!/bin/bash\n", "macOS onboarding package"),
])
def test_other_files_are_named(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(PackageError, match=message):
        parse_package(str(path))


# Packages recognised by content: AWX writes a credential's file as env/tmpXXXX (no extension) and marks the
# injected variables !unsafe.  The same bytes must give the same result with or without their name.
def _awx_copy(tmp_path, source: str, index: int = 0) -> str:
    target = tmp_path / f"tmp{index:02d}x_k2"
    target.write_bytes(open(source, "rb").read())
    return str(target)


def _unsafe(path: str):
    """The path as AWX's extra_vars carry it: a YAML value tagged !unsafe, loaded by ansible's own loader."""
    import yaml  # pylint: disable=import-outside-toplevel
    from ansible.parsing.yaml.loader import AnsibleLoader  # pylint: disable=import-outside-toplevel

    return yaml.load(f"package: !unsafe '{path}'\n", Loader=AnsibleLoader)["package"]


def _outcome(path: str):
    try:
        info = parse_package(path)
    except PackageError as exc:
        return ("refused", re.sub(r"^\S+", "<path>", str(exc).replace(path, "<path>")))
    summary = info.summary()
    del summary["path"]
    return ("accepted", summary, info.script)


@pytest.mark.parametrize("label", ["win_onboard_cmd", "win_onboard_zip", "win_offboard_cmd", "linux_onboard_py",
                                   "linux_onboard_json", "linux_onboard_zip", "linux_offboard_py"])
def test_extension_less_file_is_read_by_content(tmp_path, packages, label):
    named = parse_package(packages[label])
    bare = _awx_copy(tmp_path, packages[label])
    info = parse_package(_unsafe(bare))
    assert (info.kind, info.platform, info.container, info.deployment, info.org_id, info.sha256) == (
        named.kind, named.platform, named.container, named.deployment, named.org_id, named.sha256)
    assert info.script == named.script and info.path == bare


@pytest.mark.parametrize("label, message", [
    ("win_local_script_cmd", "interactive 'Local Script' onboarding package"),
    ("win_intune_onboarding", "Intune / Configuration Manager onboarding file"),
    ("win_offboard_expired_cmd", "expired on"),
    ("linux_offboard_expired_py", "expired on"),
    ("corrupt_zip", "not a readable zip archive"),
])
def test_extension_less_refusals_are_the_same_sentence(tmp_path, packages, label, message):
    bare = _awx_copy(tmp_path, packages[label])
    with pytest.raises(PackageError, match=message) as caught:
        parse_package(bare)
    assert str(caught.value).count(". ") == 0 and str(caught.value).endswith(".")


@pytest.mark.parametrize("text, message", [
    ("hello", "neither .cmd, .py, .json nor .zip, by its name or by its content"),
    ('{"some": "json"}', "neither .cmd, .py, .json nor .zip, by its name or by its content"),
    ("@echo off\r\necho nothing here\r\n", "holds no signed onboarding or offboarding blob"),
    ('<?xml version="1.0"?>\r\n<policyDefinitions/>', "administrative template"),
    ('<?xml version="1.0"?>\r\n<policyDefinitionResources/>', "administrative template"),
    ("#!/usr/bin/env bash\nDESTFILE=x\n", "macOS onboarding package"),
    ('DESTFILE="/Library/Application Support/Microsoft/Defender/com.microsoft.wdav.atp.plist"', "macOS"),
])
def test_extension_less_bad_content_is_one_sentence(tmp_path, text, message):
    path = tmp_path / "tmpa1b2c3"
    path.write_text(text)
    with pytest.raises(PackageError, match=message) as caught:
        parse_package(_unsafe(str(path)))
    assert str(caught.value).count(". ") == 0 and str(caught.value).endswith(".")


def test_python_script_without_shebang_and_cmd_without_echo_off(tmp_path, packages):
    script = open(packages["linux_onboard_py"]).read().split("\n", 1)[1]      # drop the shebang line
    path = tmp_path / "tmp_py"
    path.write_text(script)
    assert parse_package(str(path)).container == "py"
    cmd = open(packages["win_onboard_cmd"], newline="").read().replace("@echo off\r\n", "", 1)
    path = tmp_path / "tmp_cmd"
    path.write_text(cmd, newline="")
    info = parse_package(str(path))
    assert (info.container, info.platform) == ("cmd", "windows")


def test_every_real_package_gives_the_same_result_without_its_name(tmp_path):
    """The sanitized real downloads (../shared, when present), renamed as AWX names a credential's file."""
    folder = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "real-packages"
    if not folder.is_dir():
        pytest.skip(f"the shared real packages are not here ({folder}): only the generated ones are checked")
    files = sorted(p for p in folder.iterdir() if p.name not in ("EXPECTED.json", "SOURCES.md"))
    different = []
    for index, source in enumerate(files):
        named, bare = _outcome(str(source)), _outcome(_awx_copy(tmp_path, str(source), index))
        if named != bare:
            different.append(f"{source.name}: {named[:2]} != {bare[:2]}")
    assert len(files) >= 30 and not different, "\n".join(different)
