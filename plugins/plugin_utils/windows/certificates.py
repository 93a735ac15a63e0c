# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read a certificate file on the controller (R-41): its thumbprint, to compare with the host's store.

Internal use only: the interface may change without notice.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os


class CertificateError(ValueError):
    pass


def read_certificate(path: str) -> dict:
    """{"local_path", "sha256", "name", "thumbprint"} of a DER or PEM certificate file."""
    if os.path.isdir(path):
        raise CertificateError(f"certificate {path} is a directory; give the InterCA.cer file itself (R-41).")
    if not os.path.isfile(path):
        raise CertificateError(f"certificate {path} does not exist on the controller.")
    try:
        if os.path.getsize(path) > 1 << 20:
            raise CertificateError(f"certificate {path} is larger than 1 MiB, which no certificate is; give the "
                                   "InterCA.cer file (R-41).")
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise CertificateError(f"certificate {path} cannot be read on the controller ({exc.strerror}); check its "
                               "permissions for the user that runs Ansible.") from None
    der = raw
    if raw.lstrip().startswith(b"-----BEGIN CERTIFICATE-----"):
        body = b"".join(line for line in raw.splitlines() if line.strip() and not line.startswith(b"-----"))
        try:
            der = base64.b64decode(body, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise CertificateError(f"certificate {path} is PEM with a broken body ({exc}).") from None
    if not der.startswith(b"\x30") or len(der) < 64:
        raise CertificateError(f"{path} is not an X.509 certificate (DER or PEM); give the InterCA.cer file (R-41).")
    return {"local_path": path, "sha256": hashlib.sha256(raw).hexdigest(), "name": os.path.basename(path),
            # Windows names certificates by the SHA-1 of their DER encoding; this is that name, not a security check.
            "thumbprint": hashlib.sha1(der).hexdigest().upper()}  # nosec
