"""The package parser against every real-world package of ../shared/real-packages (EXPECTED.json)."""

from __future__ import annotations

import real_packages
from ansible_collections.defender.endpoint.plugins.plugin_utils.packages.parse import PackageError, parse_package


def test_every_real_package_is_read_as_expected():
    wrong = []
    checked = real_packages.expectations()
    for want in checked:
        path = str(real_packages.FOLDER / want.name)
        try:
            info = parse_package(path)
        except PackageError as exc:
            text = str(exc)
            if want.refusal is None:
                wrong.append(f"{want.name}: refused ({text}) but must be accepted")
            elif want.refusal not in text:
                wrong.append(f"{want.name}: refused as '{text}', expected a refusal naming '{want.refusal}'")
            elif want.refusal == "expired" and f"{want.expires:%Y-%m-%d}" not in text:
                wrong.append(f"{want.name}: the refusal does not give the expiry {want.expires:%Y-%m-%d}: {text}")
            elif text.count(". ") or not text.endswith("."):
                wrong.append(f"{want.name}: the refusal is not one sentence: {text}")
            continue
        got = (info.platform, info.kind, info.org_id)
        if want.refusal is not None:
            wrong.append(f"{want.name}: accepted as {got}, expected a refusal naming '{want.refusal}'")
        elif got != (want.platform, want.kind, want.org_id):
            wrong.append(f"{want.name}: read as {got}, expected {(want.platform, want.kind, want.org_id)}")
        elif want.kind == "offboarding" and want.expires and abs((info.expires - want.expires).total_seconds()) > 86400:
            wrong.append(f"{want.name}: expiry {info.expires}, expected {want.expires}")
    assert len(checked) >= 30, f"only {len(checked)} real packages found"
    assert not wrong, "\n".join(wrong)


def test_real_expiry_is_read_from_the_filetime_to_the_microsecond():
    """A valid real offboarding package: its FILETIME gives the expiry, not only the file name's date."""
    checked = [w for w in real_packages.expectations() if w.kind == "offboarding" and w.refusal is None]
    assert checked, "no valid real offboarding package in the folder"
    for want in checked:
        info = parse_package(str(real_packages.FOLDER / want.name))
        assert info.expires.date() == want.expires.date(), want.name
        assert info.expires.hour or info.expires.minute, f"{want.name}: expiry taken from the name, not the FILETIME"


def test_real_windows_scripts_run_with_crlf_and_keep_their_payload():
    """The script staged on the host keeps the payload intact whatever the file's line endings were."""
    for want in real_packages.expectations():
        if want.platform != "windows" or want.refusal or not want.name.endswith(".cmd"):
            continue
        info = parse_package(str(real_packages.FOLDER / want.name))
        assert "\n" not in info.script.replace("\r\n", ""), want.name
        assert want.org_id in info.script and "OnboardingInfo" in info.script, want.name
