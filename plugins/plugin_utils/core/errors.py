# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The refusal every planner raises: the wanted state cannot be reached safely, nothing was changed.

Internal use only: the interface may change without notice.
"""

from __future__ import annotations


class Refused(ValueError):
    """The wanted state cannot be reached safely; nothing was changed."""
