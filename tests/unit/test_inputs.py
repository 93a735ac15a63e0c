# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument checks made on the task's arguments as given, and the proxy credential helpers."""

from __future__ import annotations

import pytest

from ansible_collections.defender.endpoint.plugins.plugin_utils.core import inputs as _inputs
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.files import file_format

SPEC = {"installer": {"type": "path"}, "packages": {"type": "list", "elements": "path"}, "flag": {"type": "bool"},
        "timeout": {"type": "int"}, "proxy": {"type": "str", "no_log": True}}


@pytest.mark.parametrize("raw,message", [
    ({"installer": ["a.msi", "b.exe"]}, "installer must be one value, not a list"),
    ({"installer": {"path": "a.msi"}}, "installer must be one value, not a dict"),
    ({"installer": "  "}, "installer is empty"),
    ({"packages": ""}, "packages is empty"),
    ({"packages": {"a": 1}}, "packages must be a list, not a dict"),
    ({"packages": [["a"]]}, "packages must be a list of single values"),
    ({"packages": ["a", ""]}, "packages holds an empty name"),
    ({"flag": "sometimes"}, "flag must be true or false, got 'sometimes'"),
    ({"timeout": "long"}, "timeout must be a whole number, got 'long'"),
    ({"timeout": 1.5}, "timeout must be a whole number"),
    ({"proxy": ["http://u:secret@p:3128"]}, "proxy must be one value, not a list"),
])
def test_shapes_ansible_would_convert_are_refused_in_one_sentence(raw, message):
    with pytest.raises(_inputs.InputError) as caught:
        _inputs.check_raw(raw, SPEC)
    assert str(caught.value).startswith(message) and "secret" not in str(caught.value)


@pytest.mark.parametrize("raw", [
    {"installer": "md4ws.msi", "packages": ["a.zip", "b.py"], "flag": "yes", "timeout": "30"},
    {"flag": True, "timeout": 30, "packages": "a.zip", "unknown": ["left to the argument spec"]},
    {"proxy": ""}, {"installer": None},
])
def test_valid_shapes_pass(raw):
    _inputs.check_raw(raw, SPEC, may_be_empty=("proxy",))


def test_proxy_credentials_are_masked_and_detected():
    assert _inputs.has_credentials("http://user:pw@proxy.example:3128/")
    assert _inputs.has_credentials("http://token@proxy.example:3128")
    assert not _inputs.has_credentials("http://proxy.example:3128/") and not _inputs.has_credentials(None)
    assert _inputs.mask_credentials("http://user:p%40ss@proxy.example:3128/") == "http://********@proxy.example:3128/"
    assert _inputs.mask_credentials("http://proxy.example:3128") == "http://proxy.example:3128"


def test_installer_formats_by_their_first_bytes():
    assert file_format(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest") == "msi"
    assert file_format(b"MZ\x90\x00") == "exe"
    assert file_format(b"PK\x03\x04") is None and file_format(b"") is None
