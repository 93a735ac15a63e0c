# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one version comparison of the collection: dotted versions (OS, sensor, platform, package) as integer tuples.

Internal use only: the interface may change without notice.
"""

from __future__ import annotations


def version_tuple(text: str | None) -> tuple[int, ...]:
    """``"10.0.17763"`` -> ``(10, 0, 17763)``; reading stops at the first part without digits; None -> ``()``."""
    parts = []
    for piece in str(text or "").split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def os_release(facts: dict) -> tuple[int, ...]:
    """The Windows release (major, minor) of the probe's facts: ``(6, 3)`` is Windows Server 2012 R2 / 8.1."""
    return version_tuple((facts.get("os") or {}).get("version"))[:2]
