# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check identifiers, URLs and versions where they enter, before any host is touched.

Internal use only: the interface may change without notice.

Each check raises :class:`InputError` with one sentence naming the option, the value's fault and what is
expected; the value itself is shown only when it cannot be a secret.
"""

from __future__ import annotations

import re
import urllib.parse

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Package versions as apt, dnf and zypper print them: 101.25012.0000, 101.24082.0004-1, 1:2.3~rc1.
_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")
_VERSION = re.compile(r"^(?:\d+:)?\d+(?:\.[0-9A-Za-z]+)*(?:[-~+][0-9A-Za-z.~+]+)?$")


class InputError(ValueError):
    """A bad option value: one sentence, raised before any remote execution."""


def is_guid(value) -> bool:
    return isinstance(value, str) and bool(_GUID.match(value))


def guid(option: str, value: str | None) -> str | None:
    """A GUID (workspace id, org id), lower-cased; None stays None."""
    if value is None:
        return None
    if not isinstance(value, str) or not is_guid(value.strip()):
        raise InputError(f"{option} must be a GUID like 01234567-89ab-cdef-0123-456789abcdef, got {value!r}.")
    return value.strip().lower()


def repository_url(option: str, value: str, allow_insecure: bool = False) -> str:
    """An https base URL (http only when allowed on purpose: the signing key is fetched from it too)."""
    parsed = urllib.parse.urlsplit(value or "")
    if parsed.scheme not in ("https", "http") or not parsed.hostname:
        raise InputError(f"{option} must be a URL like https://packages.microsoft.com, got {value!r}.")
    if parsed.scheme == "http" and not allow_insecure:
        raise InputError(f"{option} is plain http, and the repository's signing key would come over it too; "
                         "use https, or set allow_insecure_repository: true for a mirror you trust on your network.")
    if parsed.query or parsed.fragment:
        raise InputError(f"{option} must be a base URL without a query or fragment, got {value!r}.")
    return value.rstrip("/")


def package_version(option: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not _VERSION.match(value.strip()):
        raise InputError(f"{option} must be a package version like 101.25012.0000, got {value!r}.")
    return value.strip()


def proxy_url(option: str, value: str | None) -> str | None:
    """An http(s) proxy URL with a host and a port; the empty string (remove the proxy) and None pass.

    The value may hold credentials, so it is never repeated in the message.
    """
    if value is None or value == "":
        return value
    try:
        parsed = urllib.parse.urlsplit(value)
        port = parsed.port
    except ValueError:
        parsed, port = None, None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.hostname or port is None:
        raise InputError(f"{option} must be a proxy URL like http://proxy.example:3128 (scheme, host and port).")
    return value


def has_credentials(value) -> bool:
    """Whether a URL holds a user or password (http://user:password@proxy:3128)."""
    return isinstance(value, str) and bool(_CREDENTIALS.search(value))


def mask_credentials(value: str) -> str:
    """The URL with its user and password shown as ******** (the executors mask them the same way)."""
    return _CREDENTIALS.sub(r"\1********@", value) if isinstance(value, str) else value


_BOOLEANS = frozenset(("true", "false", "yes", "no", "on", "off", "1", "0", "y", "n", "t", "f"))
_SCALARS = ("str", "path", "int", "bool", "raw")


def _kind(value) -> str | None:
    if isinstance(value, dict):
        return "dict"
    if isinstance(value, (list, tuple)):
        return "list"
    return None


def check_raw(raw: dict, spec: dict, may_be_empty=()) -> None:
    """Shapes Ansible would convert silently or report in its own words, checked on the task's arguments as given.

    A list or a dict for a single value, a dict or nested lists for a list, an empty value (except the options
    in ``may_be_empty``, where empty has a meaning), a word that is not a boolean, a number that is not whole.
    """
    for name, value in raw.items():
        option = spec.get(name)
        if option is None or value is None:
            continue
        kind, given = option.get("type", "str"), _kind(value)
        if kind in _SCALARS and given:
            raise InputError(f"{name} must be one value, not a {given}; one task gives one {name} (use a host or "
                             "group variable to give each host its own).")
        if kind == "list" and given == "dict":
            raise InputError(f"{name} must be a list, not a dict.")
        if kind == "list" and given == "list":
            if any(_kind(item) for item in value):
                raise InputError(f"{name} must be a list of single values, not of lists or dicts.")
            if any(isinstance(item, str) and not item.strip() for item in value):
                raise InputError(f"{name} holds an empty name; remove it.")
        if isinstance(value, str) and not value.strip() and name not in may_be_empty:
            raise InputError(f"{name} is empty; give a value or leave the option out.")
        if kind == "bool" and isinstance(value, str) and value.strip().lower() not in _BOOLEANS:
            raise InputError(f"{name} must be true or false, got {value!r}.")
        if kind == "int" and isinstance(value, str) and not value.strip().lstrip("-").isdigit():
            raise InputError(f"{name} must be a whole number, got {value!r}.")
        if kind == "int" and isinstance(value, float) and not value.is_integer():
            raise InputError(f"{name} must be a whole number, got {value!r}.")
