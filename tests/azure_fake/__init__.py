# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Local HTTPS fake of the Microsoft Entra authority and Azure Resource Manager, for tests with the real Azure SDKs."""

from .server import CLIENT_ID, SECRET, SUBSCRIPTION, TENANT, FakeAzure  # noqa: F401
