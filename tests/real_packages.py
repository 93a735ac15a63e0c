"""What the collection must make of each real-world package in ../shared/real-packages (when present).

The folder holds sanitized copies of packages downloaded from the Defender portal, with EXPECTED.json
describing each one.  Nothing of it is copied into the project: tests read it in place and skip, with
a message, when it is not there (a user's clone has no ../shared).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
FOLDER = ROOT.parent / "shared" / "real-packages"
# Files of the folder that EXPECTED.json does not describe: derived from the real ones (a portal zip, a
# corrupted zip, an offboarding script given a later expiry).  What they must give is stated here.
DERIVED = {
    "derived-corrupt__WindowsDefenderATPOnboardingPackage.zip": {"kind": "corrupt-zip"},
    "derived-gpo-v1.29__WindowsDefenderATPOnboardingPackage.zip": {
        "kind": "windows-onboarding", "interactive": None, "body": {"orgId": "9cfc4031-187f-448f-af3c-101ce6f7d279"}},
    "derived-gpo-v1.29-crlf__WindowsDefenderATPOffboardingScript_valid_until_2027-01-15.cmd": {
        "kind": "windows-offboarding", "interactive": None, "expiration_date_utc": "2027-01-15",
        "body": {"orgId": "9cfc4031-187f-448f-af3c-101ce6f7d279"}},
}


@dataclasses.dataclass(frozen=True)
class Expectation:
    name: str
    platform: str                 # platform of the lab host it is tried on
    kind: str                     # onboarding | offboarding (the task's state)
    org_id: str | None
    refusal: str | None           # a phrase the refusal must hold; None = accepted
    expires: datetime.datetime | None = None


def _expiry(entry: dict) -> datetime.datetime | None:
    if entry.get("expiration_utc"):
        return datetime.datetime.fromisoformat(entry["expiration_utc"][:26].rstrip("Z") + "+00:00")
    if entry.get("expiration_date_utc"):
        day = datetime.date.fromisoformat(entry["expiration_date_utc"])
        return datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.timezone.utc)
    return None


def expectation(name: str, entry: dict, now: datetime.datetime | None = None) -> Expectation:
    """Turn an EXPECTED.json entry into what the collection must do with the file."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    kind_text = entry["kind"]
    org = ((entry.get("body") or {}).get("orgId") or "").lower() or None
    expires = _expiry(entry)
    platform = "linux" if kind_text.startswith("linux") else "windows"
    kind = "offboarding" if "offboarding" in kind_text else "onboarding"
    refusal = None
    if kind_text == "corrupt-zip":
        refusal = "not a readable zip"
    elif kind_text.startswith("macos"):
        refusal = "macOS"
    elif kind_text in ("windows-gp-admx", "windows-gp-adml"):
        refusal = "administrative template"
    elif kind == "offboarding" and expires is not None and expires <= now + datetime.timedelta(days=1):
        refusal = "expired"
    elif entry.get("interactive"):
        refusal = "interactive 'Local Script'"
    elif kind_text.endswith("-blob"):
        refusal = "Intune / Configuration Manager"
    return Expectation(name, platform, kind, org, refusal, expires)


def expectations() -> list[Expectation]:
    """Every file of the folder with what it must give; skips the test when the folder is absent."""
    if not (FOLDER / "EXPECTED.json").is_file():
        pytest.skip(f"the real-world packages are not here ({FOLDER} is absent: it comes with the project's "
                    "shared material in CI, not with a clone)")
    described = json.loads((FOLDER / "EXPECTED.json").read_text())
    found = []
    for path in sorted(FOLDER.iterdir()):
        if path.name in ("EXPECTED.json", "SOURCES.md"):
            continue
        entry = described.get(path.name) or DERIVED.get(path.name)
        assert entry is not None, f"{path.name} is neither in EXPECTED.json nor in tests/real_packages.py DERIVED"
        found.append(expectation(path.name, entry))
    return found
