# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read Defender for Endpoint onboarding and offboarding packages on the controller.

Internal use only: the interface may change without notice.

Accepted and refused inputs are listed in docs/packages.md (the user's copy of this contract):

* Windows: ``WindowsDefenderATPOnboardingScript.cmd`` of the Group Policy and VDI packages (every version,
  CRLF, LF or mixed line endings), the portal's ``WindowsDefenderATPOnboardingPackage.zip``,
  ``WindowsDefenderATPOffboardingScript_valid_until_YYYY-MM-DD.cmd`` (or its zip).
* Linux: ``MicrosoftDefenderATPOnboardingLinuxServer.py``, ``mdatp_onboard.json``,
  ``MicrosoftDefenderATPOffboardingLinuxServer_valid_until_YYYY-MM-DD.py``, ``mdatp_offboard.json``
  (or their zip).
* Refused, each with its own sentence: the interactive 'Local Script' (its consent prompt
  ``set /p <var>= "Press (Y)..."``, the ``GOTO USER_CONSENT`` loop, ``pause``; never ``Set /P var=<file``,
  which reads a file, nor ``timeout``, which waits), any expired offboarding package (judged before its
  flavour), the Intune / Configuration Manager ``.onboarding`` / ``.offboarding`` files (the bare blob),
  macOS packages, the Group Policy templates (``.admx`` / ``.adml``) and any file without a blob.
* A file is judged by its name when the name ends in a known extension, else by its content (a zip's
  ``PK`` signature, ``@echo off`` or ``reg add`` lines, a Python shebang or imports, a JSON document with
  ``onboardingInfo`` / ``offboardingInfo``, the bare ``{"body": ...}`` blob, the templates' XML, a shell
  shebang): AWX writes the files of a credential as ``env/tmpXXXX``, with no extension.

A package is parsed once per run, not once per host: the file's verdict (what it is, or why it is refused) is kept
by (path, real path, size, mtime, inode, sha256 of its bytes) in the process and, since Ansible forks a worker per
host and task, in the run's local temporary directory (see :func:`parse_package`).  What is kept on disk is the
package's public fields and the refusal sentences, never the blob nor the script.

Every package carries the same signed blob: ``{"body": "<json>", "sig": ..., "sha256sig": ..., "cert": ...,
"chain": [...]}``, escaped to a depth that depends on the container.  The blob is found by unescaping one
level at a time, never by assuming a depth.  Only the body's public fields are kept; the signature, the
certificate chain and the raw text are never part of what :func:`PackageInfo.summary` returns.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import hashlib
import io
import json
import os
import re
import stat
import tempfile
import threading
import zipfile

from ansible_collections.defender.endpoint.plugins.plugin_utils.core import inputs as _inputs

_FILETIME_EPOCH = datetime.datetime(1601, 1, 1, tzinfo=datetime.timezone.utc)
_VALID_UNTIL = re.compile(r"valid_until_(\d{4}-\d{2}-\d{2})", re.IGNORECASE)
_ONE_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_MAX_DEPTH = 8
# Real packages are under 20 KiB; anything over 1 MiB (a file, or a zip member once uncompressed) is refused
# before it is read, so a crafted archive cannot make the controller inflate or search gigabytes.
_MAX_SIZE = 1024 * 1024
# The local script's real prompts.  ``Set /P errorMsg=<%TMP%\senseTmp.txt`` (in every Windows script) reads the
# first line of a file: the ``=<`` makes it an input redirection, not a prompt.  ``timeout 5`` is a delay.
_CONSENT_PROMPT = re.compile(r"^[ \t@]*set\s+/p\s+\"?[^=\s\"]+\s*=(?!\s*<)", re.IGNORECASE | re.MULTILINE)
_CONSENT_LOOP = re.compile(r"^[ \t]*goto\s+:?user_consent\b", re.IGNORECASE | re.MULTILINE)
_PAUSE = re.compile(r"^[ \t@]*pause[ \t]*(?:>\s*nul\b[^\r\n]*)?\r?$", re.IGNORECASE | re.MULTILINE)
_MACOS = re.compile(r"<key>OnboardingInfo</key>|com\.microsoft\.wdav|/Library/Application Support/Microsoft",
                    re.IGNORECASE)
_TEMPLATE_SUFFIXES = (".admx", ".adml")
_BLOB_SUFFIXES = (".onboarding", ".offboarding")
_KNOWN_SUFFIXES = (".cmd", ".py", ".json", ".zip", ".sh") + _BLOB_SUFFIXES + _TEMPLATE_SUFFIXES
# What a file without a known extension holds, judged from its first lines (see _sniff).
_BATCH_LINE = re.compile(r"^[ \t]*(?:@?echo\s+off\b|reg(?:\.exe)?\s+add\s)", re.IGNORECASE | re.MULTILINE)
_PYTHON_LINE = re.compile(r"^(?:import\s+\w|from\s+[\w.]+\s+import\s)", re.MULTILINE)
_SNIFF_SIZE = 4096


class PackageError(ValueError):
    """A package that cannot be used, with one sentence saying why and what to do."""


@dataclasses.dataclass(frozen=True)
class PackageInfo:
    kind: str                  # onboarding | offboarding
    platform: str              # windows | linux
    container: str             # cmd | py | json | zip
    deployment: str            # group_policy (Group Policy / VDI script) | linux_script | mdatp_json
    member: str | None         # file used inside a zip
    org_id: str
    org_ids: tuple = ()
    geo_location_url: str | None = None
    datacenter: str | None = None
    vortex_geo_location: str | None = None
    version: str | None = None
    package_guid: str | None = None
    expires: datetime.datetime | None = None
    sha256: str = ""
    path: str = ""
    # The script or json as it must run on the host.  It holds the signed blob: a secret, never shown.
    script: str = dataclasses.field(default="", repr=False, compare=False)

    @property
    def expired(self) -> bool:
        return self.expires is not None and self.expires <= datetime.datetime.now(datetime.timezone.utc)

    def summary(self) -> dict:
        """Public facts of the package, safe to show in results and reports (no signature, no blob)."""
        return {
            "kind": self.kind, "platform": self.platform, "container": self.container, "member": self.member,
            "deployment": self.deployment,
            "org_id": self.org_id, "geo_location_url": self.geo_location_url, "datacenter": self.datacenter,
            "vortex_geo_location": self.vortex_geo_location, "version": self.version,
            "package_guid": self.package_guid, "sha256": self.sha256, "path": self.path,
            "expires": self.expires.isoformat() if self.expires else None,
        }


def filetime_to_datetime(ticks: int) -> datetime.datetime:
    """A Windows FILETIME (100 ns ticks since 1601-01-01 UTC) as an aware datetime."""
    return _FILETIME_EPOCH + datetime.timedelta(microseconds=int(ticks) // 10)


def _find_blob(text: str) -> tuple[dict, dict] | None:
    """Return (outer blob, parsed body) from text holding the signed blob at any escaping depth.

    Only the lines that mention ``body`` are searched, and each is unescaped one level at a time: the cost
    stays linear in the file's size whatever it holds.
    """
    decoder = json.JSONDecoder()
    for line in text.splitlines():
        if "body" not in line:
            continue
        for _depth in range(_MAX_DEPTH):
            for match in re.finditer(r'\{\s*"body"\s*:', line):
                try:
                    outer, _end = decoder.raw_decode(line, match.start())
                except ValueError:
                    continue
                body = outer.get("body") if isinstance(outer, dict) else None
                if isinstance(body, str):
                    try:
                        body = json.loads(body)
                    except ValueError:
                        continue
                if isinstance(body, dict):
                    return outer, body
            unescaped = _ONE_ESCAPE.sub(r"\1", line)
            if unescaped == line:
                break
            line = unescaped
    return None


def _platform_of(name: str) -> str | None:
    """The platform a package file is for, from its name; ``other`` for the files refused by name later on."""
    lower = name.lower()
    if lower.endswith(".cmd"):
        return "windows"
    if lower.endswith((".py", ".json")):
        return "linux"
    if lower.endswith(_BLOB_SUFFIXES + _TEMPLATE_SUFFIXES + (".sh",)):
        return "other"
    return None


def _sniff(text: str) -> str | None:
    """The extension a file without one would carry, from its content; None when it is none of the packages'.

    Only the start of the file is read (the scripts' first lines, a JSON document's first key), except for the
    JSON document, which is parsed whole to be sure of its key.
    """
    head = text[:_SNIFF_SIZE].lstrip("\ufeff \t\r\n")
    first = head.split("\n", 1)[0].strip().lower()
    if first.startswith("#!"):
        return ".py" if "python" in first else ".sh"
    if head.startswith("<"):
        if "<policydefinitionresources" in head.lower():
            return ".adml"
        return ".admx" if "<policydefinitions" in head.lower() else None
    if head.startswith("{"):
        if re.match(r'\{\s*"body"\s*:', head):
            return ".onboarding"
        try:
            document = json.loads(text)
        except ValueError:
            return None
        keys = set(document) if isinstance(document, dict) else set()
        return ".json" if keys & {"onboardingInfo", "offboardingInfo"} else None
    if _BATCH_LINE.search(head):
        return ".cmd"
    if _PYTHON_LINE.search(head):
        return ".py"
    return None


def _pick_member(archive: zipfile.ZipFile, source: str, prefer_platform: str | None = None) -> str:
    """The script member to judge: the asked platform's when the zip holds both, then the shallowest."""
    names = [n for n in archive.namelist() if _platform_of(n) not in (None, "other") and not n.endswith("/")]
    if not names:
        raise PackageError(f"{source} holds no onboarding or offboarding script (.cmd, .py or .json); "
                           "download the package again from the Defender portal.")
    names.sort(key=lambda n: (_platform_of(n) != prefer_platform if prefer_platform else False,
                              n.count("/"), "optionalparams" in n.lower(), n))
    return names[0]


def _checked_bytes(path: str) -> tuple[bytes, os.stat_result]:
    """The bytes of a package file (at most 1 MiB, read once) and its stat; one sentence when it cannot be read.

    These refusals depend on the controller (the file's presence, its permissions), not on what the file holds:
    they are never cached.
    """
    if os.path.isdir(path):
        raise PackageError(f"package {path} is a directory; give the package file itself (the .zip, .cmd, .py or "
                           ".json the Defender portal produced).")
    if not os.path.isfile(path):
        raise PackageError(f"package {path} does not exist on the controller.")
    if os.path.getsize(path) > _MAX_SIZE:
        raise PackageError(f"package {path} is larger than 1 MiB; it is not a Defender for Endpoint package.")
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            raw = handle.read(_MAX_SIZE + 1)
    except OSError as exc:
        raise PackageError(f"package {path} cannot be read on the controller ({exc.strerror}); check its "
                           "permissions for the user that runs Ansible.") from None
    if len(raw) > _MAX_SIZE:
        raise PackageError(f"package {path} is larger than 1 MiB; it is not a Defender for Endpoint package.")
    return raw, info


def _read(path: str, raw: bytes, prefer_platform: str | None = None) -> tuple[str, str, str | None, str, str]:
    """Return (text, container, member, platform, judged name) of a package file or zip, from its bytes.

    The judged name is the file's (or zip member's) name, with the extension its content shows appended when
    the name has no known one.
    """
    name = os.path.basename(path)
    if name.lower().endswith(".zip") or raw[:2] == b"PK":
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                member = _pick_member(archive, name, prefer_platform)
                if archive.getinfo(member).file_size > _MAX_SIZE:
                    raise PackageError(f"package {path} holds a {member} larger than 1 MiB once uncompressed; it is "
                                       "not a Defender for Endpoint package.")
                data = archive.read(member)
        except (zipfile.BadZipFile, EOFError) as exc:
            raise PackageError(f"package {path} is not a readable zip archive ({exc}); download it again.") from exc
        return data.decode("utf-8", "replace"), "zip", member, _platform_of(member), member
    text = raw.decode("utf-8", "replace")
    judged = name
    if not name.lower().endswith(_KNOWN_SUFFIXES):
        suffix = _sniff(text)
        if suffix is None and _MACOS.search(text[:_SNIFF_SIZE]):
            suffix = ".sh"
        if suffix is None:
            raise PackageError(f"package {path} is neither .cmd, .py, .json nor .zip, by its name or by its content; "
                               "give the file the Defender portal produced for Windows or Linux servers.")
        judged = name + suffix
    platform = _platform_of(judged)
    if platform is None:
        raise PackageError(f"package {path} is neither .cmd, .py, .json nor .zip; give the file the Defender "
                           "portal produced for Windows or Linux servers.")
    return text, judged.rsplit(".", 1)[-1].lower(), None, platform, judged


def _expiry(body: dict, name: str) -> datetime.datetime | None:
    if body.get("expirationTimestamp") is not None:
        try:
            return filetime_to_datetime(int(body["expirationTimestamp"]))
        except (TypeError, ValueError):
            pass
    match = _VALID_UNTIL.search(name)
    if match:
        day = datetime.date.fromisoformat(match.group(1))
        midnight = datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.timezone.utc)
        return midnight + datetime.timedelta(days=1)
    return None


def _refuse_by_name(shown: str, name: str, text: str) -> None:
    """Files that are recognisably not a server package: refused before their content is trusted."""
    lower = name.lower()
    if lower.endswith(_TEMPLATE_SUFFIXES):
        raise PackageError(f"{shown} is a Group Policy administrative template ({lower.rsplit('.', 1)[-1]}: the "
                           "package's optional settings), not an onboarding script; give "
                           "WindowsDefenderATPOnboardingScript.cmd or the zip it came in.")
    if lower.endswith(".sh") or _MACOS.search(text):
        raise PackageError(f"{shown} is a macOS onboarding package; this collection onboards Windows and Linux "
                           "servers: download the 'Windows Server' or 'Linux Server' package from the Defender portal.")


def _interactive(text: str) -> str | None:
    """Which of the local script's real prompts the script holds, or None for a Group Policy / VDI script."""
    found = []
    if _CONSENT_PROMPT.search(text):
        found.append("asks 'Press (Y) to confirm' (set /p)")
    if _CONSENT_LOOP.search(text) and not found:
        found.append("loops on GOTO USER_CONSENT")
    if _PAUSE.search(text):
        found.append("waits for a key (pause)")
    return " and ".join(found) or None


def _deployment(platform: str, container: str, member: str | None) -> str:
    if platform == "windows":
        return "group_policy"
    name = (member or "").lower() if container == "zip" else container
    return "mdatp_json" if name.endswith("json") else "linux_script"


@dataclasses.dataclass(frozen=True)
class _Verdict:
    """What a package file's bytes are, whatever the task asks of it: the package (judged later against the
    task's kind and platform, and the clock), or the sentence that refuses it."""
    error: str | None = None
    info: PackageInfo | None = None
    shown: str = ""
    prompts: str | None = None       # the local script's prompts, when it has any
    bare_blob: bool = False


def _script_of(text: str, platform: str, bare_blob: bool) -> str:
    # cmd.exe finds labels (GOTO) unreliably in LF-only batch files: the script runs with CRLF endings.
    return re.sub(r"\r*\n", "\r\n", text) if platform == "windows" and not bare_blob else text


def _parse_bytes(path: str, raw: bytes, expect_platform: str | None) -> _Verdict:
    """Judge a package from its bytes: what it is (templates, macOS), its blob, its org id; the verdict."""
    try:
        text, container, member, platform, name = _read(path, raw, expect_platform)
    except PackageError as exc:
        return _Verdict(error=str(exc))
    shown = f"{path}" + (f" ({member})" if member else "")
    try:
        _refuse_by_name(shown, name, text)
    except PackageError as exc:
        return _Verdict(error=str(exc))
    found = _find_blob(text)
    if found is None:
        return _Verdict(error=f"{shown} holds no signed onboarding or offboarding blob; it is not a Defender for "
                        "Endpoint package or it was edited; download it again.")
    _outer, body = found
    org_id = body.get("orgId")
    if not _inputs.is_guid(org_id):
        return _Verdict(error=f"{shown} has a blob without a valid orgId (a GUID); it was edited or damaged: "
                        "download the package again.")
    bare_blob = name.lower().endswith(_BLOB_SUFFIXES) or text.lstrip().startswith('{"body"')
    if bare_blob:
        platform = "windows"
    # The onboarding script also names the offboarding value (it deletes it), so decide from the body alone.
    kind = "offboarding" if ("expirationTimestamp" in body or "orgIds" in body) else "onboarding"
    info = PackageInfo(
        kind=kind, platform=platform, container=container, member=member, org_id=org_id.lower(),
        deployment="intune" if bare_blob else _deployment(platform, container, member),
        org_ids=tuple(str(o).lower() for o in body.get("orgIds") or body.get("previousOrgIds") or []),
        geo_location_url=body.get("geoLocationUrl"), datacenter=body.get("datacenter"),
        vortex_geo_location=body.get("vortexGeoLocation"), version=str(body["version"]) if "version" in body else None,
        package_guid=body.get("packageGuid"), expires=_expiry(body, name) if kind == "offboarding" else None,
        sha256=hashlib.sha256(raw).hexdigest(), path=path, script=_script_of(text, platform, bare_blob),
    )
    prompts = _interactive(text) if platform == "windows" and not bare_blob else None
    return _Verdict(info=info, shown=shown, prompts=prompts, bare_blob=bare_blob)


def _judge(verdict: _Verdict, expect_kind: str | None, expect_platform: str | None) -> PackageInfo:
    """The task's judgement of a verdict, in this order: the platform and kind asked for, an offboarding package's
    expiry (whatever its flavour), then the flavour (local script, Intune file)."""
    if verdict.error:
        raise PackageError(verdict.error)
    info, shown, kind = verdict.info, verdict.shown, verdict.info.kind
    if expect_platform and info.platform != expect_platform:
        raise PackageError(f"{shown} is a {info.platform} {info.kind} package, but this host runs {expect_platform}; "
                           f"give the {expect_platform} package of the same tenant.")
    if expect_kind and info.kind != expect_kind:
        raise PackageError(f"{shown} is an {info.kind} package where an {expect_kind} package is needed.")
    if info.kind == "offboarding" and info.expired:
        raise PackageError(f"{shown} expired on {info.expires:%Y-%m-%d %H:%M} UTC; offboarding packages are valid "
                           "for seven days: download a new one from the Defender portal.")
    if verdict.prompts:
        raise PackageError(f"{shown} is the interactive 'Local Script' {kind} package: it {verdict.prompts}, so it "
                           "cannot run unattended; download the 'Group Policy' deployment package from the "
                           "Defender portal.")
    if verdict.bare_blob:
        wanted = ("WindowsDefenderATPOnboardingPackage.zip" if kind == "onboarding"
                  else "WindowsDefenderATPOffboardingScript_valid_until_<date>.cmd")
        raise PackageError(f"{shown} is the Intune / Configuration Manager {kind} file (the bare signed blob, for "
                           f"an MDM policy); download the 'Group Policy' deployment package ({wanted}) instead.")
    return info


# The verdict cache ------------------------------------------------------------------------------------------------
_CACHE_SIZE = 64
_CACHE_FORMAT = 1
_CACHE_DIR_NAME = "defender.endpoint-parse"
_memory: collections.OrderedDict = collections.OrderedDict()
_memory_lock = threading.Lock()


def _cache_key(path: str, raw: bytes, info: os.stat_result, expect_platform: str | None) -> str:
    """The file as given and as it is (real path, size, mtime, inode, sha256 of the bytes read) and the platform
    that picks a zip's member. Hashing the bytes (at most 1 MiB, already read) costs a tenth of parsing them."""
    parts = [_CACHE_FORMAT, path, os.path.realpath(path), info.st_size, info.st_mtime_ns, info.st_ino,
             hashlib.sha256(raw).hexdigest(), expect_platform]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _run_tmp_dir() -> str | None:
    """The run's local temporary directory (ansible-local-<pid>..., made by ansible-playbook before it forks its
    workers, removed when it exits), or None outside Ansible."""
    try:
        from ansible import constants  # pylint: disable=import-outside-toplevel
        return constants.DEFAULT_LOCAL_TMP
    except Exception:  # pylint: disable=broad-except  # no Ansible configuration: no disk cache
        return None


def _private_dir(base: str | None) -> str | None:
    """<base>/defender.endpoint-parse, 0700 and the user's own (made if missing); None when it is not safe."""
    if not base:
        return None
    where = os.path.join(base, _CACHE_DIR_NAME)
    try:
        os.mkdir(where, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        found = os.lstat(where)
    except OSError:
        return None
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid() or found.st_mode & 0o077:
        return None
    return where


def _to_record(verdict: _Verdict) -> dict:
    """What goes on disk: the refusal, or the public fields and flags; never the script (it holds the blob)."""
    if verdict.error:
        return {"format": _CACHE_FORMAT, "error": verdict.error}
    fields = {f.name: getattr(verdict.info, f.name) for f in dataclasses.fields(PackageInfo) if f.name != "script"}
    fields["org_ids"] = list(fields["org_ids"])
    fields["expires"] = fields["expires"].isoformat() if fields["expires"] else None
    return {"format": _CACHE_FORMAT, "info": fields, "shown": verdict.shown, "prompts": verdict.prompts,
            "bare_blob": verdict.bare_blob}


def _from_record(record: dict, path: str, raw: bytes, expect_platform: str | None) -> _Verdict:
    """A verdict from its disk record; the script is read again from the bytes (the record does not hold it)."""
    if record.get("format") != _CACHE_FORMAT:
        raise KeyError(_CACHE_FORMAT)   # a record of another format is a miss
    if record.get("error"):
        return _Verdict(error=str(record["error"]))
    fields = dict(record["info"])
    fields["org_ids"] = tuple(fields["org_ids"])
    fields["expires"] = datetime.datetime.fromisoformat(fields["expires"]) if fields["expires"] else None
    text, _container, _member, _platform, _name = _read(path, raw, expect_platform)
    script = _script_of(text, fields["platform"], bool(record["bare_blob"]))
    return _Verdict(info=PackageInfo(script=script, **fields), shown=record["shown"], prompts=record["prompts"],
                    bare_blob=bool(record["bare_blob"]))


def _disk_get(directory: str | None, key: str, path: str, raw: bytes, expect_platform: str | None):
    if directory is None:
        return None
    try:
        handle = os.open(os.path.join(directory, key + ".json"), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        with os.fdopen(handle, "rb") as stream:
            found = os.fstat(stream.fileno())
            if found.st_uid != os.getuid() or found.st_mode & 0o077:
                return None
            return _from_record(json.loads(stream.read(_MAX_SIZE)), path, raw, expect_platform)
    except (OSError, ValueError, KeyError, TypeError, PackageError):
        return None                 # a damaged or foreign entry is a miss, never a verdict


def _disk_put(directory: str | None, key: str, verdict: _Verdict) -> None:
    if directory is None:
        return
    try:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".new-", suffix=".json")   # 0600
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(_to_record(verdict), stream)
        os.replace(temporary, os.path.join(directory, key + ".json"))
    except OSError:
        pass                        # no cache is no error: the next worker parses again


def _verdict(path: str, raw: bytes, info: os.stat_result, expect_platform: str | None) -> _Verdict:
    """The verdict of a file: from this process's cache, else the run's disk cache, else parsed (and kept)."""
    key = _cache_key(path, raw, info, expect_platform)
    with _memory_lock:
        if key in _memory:
            _memory.move_to_end(key)
            return _memory[key]
    directory = _private_dir(_run_tmp_dir())
    verdict = _disk_get(directory, key, path, raw, expect_platform)
    if verdict is None:
        verdict = _parse_bytes(path, raw, expect_platform)
        _disk_put(directory, key, verdict)
    with _memory_lock:
        _memory[key] = verdict
        while len(_memory) > _CACHE_SIZE:
            _memory.popitem(last=False)
    return verdict


def clear_cache() -> None:
    """Forget this process's verdicts (the run's disk cache goes with the run's temporary directory)."""
    with _memory_lock:
        _memory.clear()


def parse_package(path: str, expect_kind: str | None = None, expect_platform: str | None = None) -> PackageInfo:
    """Parse a package file; raise :class:`PackageError` with one clear sentence when it cannot be used.

    Order of judgement: the file can be read (never cached), what the file is (templates, macOS), its blob, the
    kind and platform asked for, an offboarding package's expiry (whatever its flavour), then the flavour (local
    script, Intune file). The first three are the file's verdict, kept for the run (see the module's docstring);
    the rest is judged on every call. PackageInfo is frozen: the same one may be returned to every caller.
    """
    raw, info = _checked_bytes(path)
    return _judge(_verdict(path, raw, info, expect_platform), expect_kind, expect_platform)


def mdatp_json(info: PackageInfo) -> str:
    """The ``mdatp_onboard.json`` / ``mdatp_offboard.json`` document the Linux package's script writes
    (docs/linux-fleet.md).

    The signed blob is kept as it is in the package (its body string untouched), wrapped once more.
    """
    found = _find_blob(info.script)
    if found is None:
        raise PackageError(f"{info.path} holds no signed blob; download the package again.")
    outer, _body = found
    key = "offboardingInfo" if info.kind == "offboarding" else "onboardingInfo"
    return json.dumps({key: json.dumps(outer, separators=(",", ":"))})
