# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side files a step copies to the host (installers, the EDR test script): read, hashed, recognised.

Internal use only: the interface may change without notice.
"""

from __future__ import annotations

import hashlib
import os

from ansible.errors import AnsibleActionFail

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def local_file(path: str, option: str, directory_hint: str, missing_hint: str) -> dict:
    """A controller-side file a step will copy to the host: its path, sha256 and name, or one sentence why not.

    ``directory_hint`` says what to give instead of a directory; ``missing_hint`` ends the "does not exist"
    sentence (with its own leading punctuation).
    """
    if os.path.isdir(path):
        raise AnsibleActionFail(f"{option} {path} is a directory; {directory_hint}.")
    if not os.path.isfile(path):
        raise AnsibleActionFail(f"{option} {path} does not exist on the controller{missing_hint}.")
    digest = hashlib.sha256()
    head = b""
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                head = head or chunk[:8]
                digest.update(chunk)
    except OSError as exc:
        raise AnsibleActionFail(f"{option} {path} cannot be read on the controller ({exc.strerror}); check its "
                                "permissions for the user that runs Ansible.") from None
    return {"local_path": path, "sha256": digest.hexdigest(), "name": os.path.basename(path),
            "format": file_format(head)}


def file_format(head: bytes) -> str | None:
    """An installer's format by its first bytes: ``msi`` (an OLE compound document, as md4ws.msi), ``exe`` (a
    Windows executable, ``MZ``, as MMASetup-AMD64.exe), else None."""
    if head[:8] == _OLE_MAGIC:
        return "msi"
    if head[:2] == b"MZ":
        return "exe"
    return None
