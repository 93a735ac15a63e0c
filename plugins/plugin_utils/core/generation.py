# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decide a host's generation (its path to Defender for Endpoint) from its own facts (R-01).

Internal use only: the interface may change without notice.

A generation is one of ``downlevel``, ``unified``, ``modern``, ``linux`` or ``unsupported``.
Nothing here looks at group names or inventory: only the probe's OS facts count.
"""

from __future__ import annotations

import dataclasses

from ansible_collections.defender.endpoint.plugins.plugin_utils.core.versions import version_tuple

GENERATIONS = ("downlevel", "unified", "modern", "linux", "unsupported")

SUPPORTED_WINDOWS = (
    "Windows 7 SP1 Pro/Enterprise, Windows 8.1 Pro/Enterprise, Windows Server 2008 R2 SP1, "
    "Windows Server 2012 R2, 2016, 2019 (including Server Core), 2022, 2025 and Semi-Annual Channel 1803 or later"
)

# Minimum versions of the Linux distributions Defender for Endpoint supports (major[.minor]).
SUPPORTED_LINUX = {
    "rhel": (7, 2), "centos": (7, 2), "ol": (7, 2), "almalinux": (8, 4), "rocky": (8, 7),
    "ubuntu": (16, 4), "debian": (9,), "sles": (12,), "opensuse-leap": (15,),
    "amzn": (2,), "fedora": (33,), "mariner": (2,), "azurelinux": (3,),
}

# Server builds of Windows 10 kernel generation (build -> name).
_SERVER_BUILDS = {14393: "Windows Server 2016", 17763: "Windows Server 2019", 20348: "Windows Server 2022",
                  26100: "Windows Server 2025", 17134: "Windows Server 1803", 18362: "Windows Server 1903",
                  18363: "Windows Server 1909", 19041: "Windows Server 2004", 19042: "Windows Server 20H2",
                  25398: "Windows Server 23H2", 16299: "Windows Server 1709"}
_FIRST_MODERN_BUILD = 17134  # Semi-Annual Channel 1803
_CLIENT_EDITIONS = ("professional", "enterprise")


@dataclasses.dataclass(frozen=True)
class Generation:
    generation: str
    os_label: str
    unsupported_reason: str | None = None


def windows_label(os_facts: dict) -> str:
    """A human name for a Windows host, e.g. 'Windows Server 2012 R2' or 'Windows 7 SP1 Enterprise'."""
    major_minor = version_tuple(os_facts.get("version"))[:2]
    build = int(os_facts.get("build") or 0)
    server = int(os_facts.get("product_type") or 1) != 1
    sp = int(os_facts.get("service_pack") or 0)
    names = {
        (6, 0): ("Windows Vista", "Windows Server 2008"),
        (6, 1): ("Windows 7", "Windows Server 2008 R2"),
        (6, 2): ("Windows 8", "Windows Server 2012"),
        (6, 3): ("Windows 8.1", "Windows Server 2012 R2"),
    }
    if major_minor in names:
        label = names[major_minor][1 if server else 0]
    elif major_minor[:1] == (10,):
        if server:
            label = _SERVER_BUILDS.get(build, f"Windows Server (build {build})")
        else:
            label = "Windows 11" if build >= 22000 else "Windows 10"
    else:
        label = os_facts.get("name") or f"Windows {os_facts.get('version')}"
    if sp:
        label += f" SP{sp}"
    if not server and os_facts.get("edition"):
        label += f" {os_facts['edition']}"
    if server and str(os_facts.get("installation_type", "")).lower() == "server core":
        label += " (Server Core)"
    return f"{label} (version {os_facts.get('version')}, build {build})"


def _unsupported(label: str, why: str) -> Generation:
    return Generation("unsupported", label, f"host runs {label}, {why}; supported: {SUPPORTED_WINDOWS}.")


def classify_windows(os_facts: dict) -> Generation:
    label = windows_label(os_facts)
    major_minor = version_tuple(os_facts.get("version"))[:2]
    build = int(os_facts.get("build") or 0)
    server = int(os_facts.get("product_type") or 1) != 1
    sp = int(os_facts.get("service_pack") or 0)
    edition = str(os_facts.get("edition") or "").lower()
    client_edition_ok = any(word in edition for word in _CLIENT_EDITIONS)

    if major_minor == (6, 1):
        if sp < 1:
            return _unsupported(label, "which needs Service Pack 1 before Defender for Endpoint can be installed")
        if not server and not client_edition_ok:
            return _unsupported(label, "an edition Defender for Endpoint does not support (Pro or Enterprise only)")
        return Generation("downlevel", label)
    if major_minor == (6, 3):
        if server:
            return Generation("unified", label)
        if not client_edition_ok:
            return _unsupported(label, "an edition Defender for Endpoint does not support (Pro or Enterprise only)")
        return Generation("downlevel", label)
    if major_minor == (10, 0):
        if not server:
            return _unsupported(label, "a Windows client, which onboards through the client path, not this server path")
        if build == 14393:
            return Generation("unified", label)
        if build >= _FIRST_MODERN_BUILD:
            return Generation("modern", label)
        return _unsupported(label, "a Windows Server release Defender for Endpoint does not support")
    return _unsupported(label, "which Defender for Endpoint does not support")


def linux_label(os_facts: dict) -> str:
    return os_facts.get("pretty_name") or f"{os_facts.get('id')} {os_facts.get('version_id')}"


def classify_linux(os_facts: dict) -> Generation:
    label = linux_label(os_facts)
    distro = str(os_facts.get("id") or "").lower()
    version = version_tuple(os_facts.get("version_id"))
    supported = ", ".join(f"{name} {'.'.join(map(str, v))}+" for name, v in sorted(SUPPORTED_LINUX.items()))
    if os_facts.get("architecture") not in (None, "x86_64", "aarch64"):
        return Generation("unsupported", label,
                          f"host runs {label} on {os_facts.get('architecture')}; Defender for Endpoint on Linux "
                          f"supports x86_64 and aarch64 only.")
    minimum = SUPPORTED_LINUX.get(distro)
    if minimum is None or version < minimum:
        return Generation("unsupported", label,
                          f"host runs {label}, which Defender for Endpoint on Linux does not support; "
                          f"supported: {supported}.")
    return Generation("linux", label)


def classify(facts: dict) -> Generation:
    """Return the generation of a host from the probe's facts (R-01)."""
    platform = facts.get("platform")
    if platform == "windows":
        return classify_windows(facts.get("os") or {})
    if platform == "linux":
        return classify_linux(facts.get("os") or {})
    return Generation("unsupported", str(platform),
                      f"host platform {platform!r} is neither Windows nor Linux; nothing to onboard.")
