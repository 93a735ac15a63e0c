# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real Debian 12 host for the tests: a debootstrap root in private namespaces, its own sshd, a signed apt
repository in Microsoft's layout and a test-double mdatp package (see README.md)."""

from __future__ import annotations
