"""Generate Defender for Endpoint packages in their real formats, with fake tenants and fake signatures.

Test-only.  The layouts follow Microsoft's packages (docs/packages.md): the Group Policy onboarding script,
the interactive 'Local Script', the offboarding script with its FILETIME expiry, the Linux onboarding
and offboarding scripts, mdatp_onboard.json, and the portal's zip archives.  No real tenant's package
is ever used: org ids are made up and signatures are random bytes.

Run ``python package_factory.py DIR`` to write a full set into DIR.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import sys
import zipfile

FAKE_ORG = "00000000-1111-4222-8333-444444444444"
OTHER_ORG = "99999999-8888-4777-8666-555555555555"
OFFBOARDING_VALUE = "696C1FA1-4030-4FA4-8713-FAF9B2EA7C0A"
POLICY_KEY = r"HKLM\SOFTWARE\Policies\Microsoft\Windows Advanced Threat Protection"
_EPOCH = datetime.datetime(1601, 1, 1, tzinfo=datetime.timezone.utc)
# The lab's MDE workspace for the MMA path (tests/lab/labmodel/windows_apply.py knows it belongs to FAKE_ORG).
MDE_WORKSPACE_ID = "11111111-2222-4333-8444-555555555555"
FAKE_WORKSPACE_KEY = base64.b64encode(hashlib.sha512(b"workspace-key").digest()).decode()
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_LINUX_MAGIC = {"arc_deb": b"!<arch>\n", "arc_rpm": b"\xed\xab\xee\xdb"}
ARC_VERSION = "1.47.02849.1883"


def fake_certificate() -> bytes:
    """A DER-shaped stand-in for InterCA.cer (an ASN.1 SEQUENCE): enough to import and to take a thumbprint of."""
    body = hashlib.sha512(b"intermediate-ca").digest() * 4
    return b"\x30\x82" + len(body).to_bytes(2, "big") + body


def installer(kind: str, version: str) -> bytes:
    """A stand-in for an installer: magic + product facts.

    ``md4ws`` (md4ws.msi) and ``arc`` (AzureConnectedMachineAgent.msi) are OLE compound files, ``mma`` the MMA setup
    (a PE file), ``arc_deb`` / ``arc_rpm`` the Linux azcmagent package (an ar archive / an RPM lead)."""
    if kind == "md4ws":
        return _OLE_MAGIC + f"\nProductName=Microsoft Defender for Endpoint\nProductVersion={version}\n".encode()
    if kind == "arc":
        return _OLE_MAGIC + f"\nProductName=Azure Connected Machine Agent\nProductVersion={version}\n".encode()
    if kind in _LINUX_MAGIC:
        return _LINUX_MAGIC[kind] + f"\nPackage=azcmagent\nVersion={version}\nArchitecture=x86_64\n".encode()
    if kind != "mma":
        raise ValueError(f"unknown installer kind {kind!r}; known: md4ws, mma, arc, arc_deb, arc_rpm")
    return b"MZ" + f"\nProductName=Microsoft Monitoring Agent\nProductVersion={version}\n".encode()


def fake_signature(seed: str) -> str:
    """A stable, fake base64 'signature' (the secret part of a blob; tests grep output for it)."""
    return base64.b64encode(hashlib.sha512(f"sig:{seed}".encode()).digest() * 3).decode()


def _blob(body: dict, seed: str) -> str:
    return json.dumps({
        "body": json.dumps(body, separators=(",", ":")),
        "sig": fake_signature(seed), "sha256sig": fake_signature(seed + "256"),
        "cert": fake_signature(seed + "cert"), "chain": [fake_signature(seed + "c1"), fake_signature(seed + "c2")],
    }, separators=(",", ":"))


def onboarding_body(org_id: str = FAKE_ORG, linux: bool = False) -> dict:
    body = {"previousOrgIds": [], "orgId": org_id, "geoLocationUrl": "https://winatp-gw-weu.microsoft.com/",
            "datacenter": "WestEurope", "vortexGeoLocation": "EU", "version": "2.01",
            "packageGuid": "7d7f3e9a-1b2c-4d5e-8f90-a1b2c3d4e5f6"}
    if linux:
        body["deviceType"] = "Server"
    return body


def filetime(when: datetime.datetime) -> int:
    return int((when - _EPOCH).total_seconds() * 10_000_000)


def offboarding_body(org_id: str, expires: datetime.datetime) -> dict:
    return {"orgIds": [org_id], "orgId": org_id, "expirationTimestamp": filetime(expires), "version": "1.4"}


def cmd_escape(text: str) -> str:
    """Escape a JSON text the way the portal's .cmd scripts carry it after /d (quotes and backslashes)."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


# The shape of the portal's scripts (compared with the real downloads): CRLF lines, with some blank lines and
# the payload line ending in a bare LF ("mixed"); every script reads its error text with
# ``Set /P errorMsg=<%TMP%\senseTmp.txt`` and waits with ``timeout``; only the local script prompts
# (``set /p shouldContinue= "Press (Y)..."`` looping on ``GOTO USER_CONSENT``) and ends with ``pause``.
# A line that starts with _LF ends in a bare LF in the written file (alone: a blank LF line); others get CRLF.
_LF = "\x00"
_CONSENT = [
    "echo This script is for onboarding machines to the Microsoft Defender for Endpoint services.",
    "echo IMPORTANT: This script is optimized for onboarding a single machine.",
    "echo.", ":USER_CONSENT",
    'set /p shouldContinue= "Press (Y) to confirm and continue or (N) to cancel and exit: "',
    'IF /I "%shouldContinue%"=="N" (', "\tGOTO CLEANUP", ")",
    'IF /I "%shouldContinue%"=="Y" (', "\tGOTO SCRIPT_START", ")",
    "echo.", "echo Wrong input. Please try again.", "GOTO USER_CONSENT", "echo.", ":SCRIPT_START",
    f'%windir%\\System32\\reg.exe add "{POLICY_KEY}" /v latency /t REG_SZ /f /d "Demo" >NUL 2>&1', _LF,
]
_HEADER = [
    "@echo off", "", "echo. >NUL 2>&1", "echo Starting {what} process... >NUL 2>&1", "echo. >NUL 2>&1", "",
    "set errorCode=0", "set lastError=0",
    'set "troubleshootInfo=For more information, visit: https://go.microsoft.com/fwlink/p/?linkid=822807"',
    'set "errorDescription="', "", "echo Testing administrator privileges >NUL 2>&1", "",
    "net session >NUL 2>&1", "if %ERRORLEVEL% NEQ 0 (",
    "\t@echo Script is running with insufficient privileges. Please run with administrator privileges> "
    "%TMP%\\senseTmp.txt",
    "\tset errorCode=65", " set lastError=%ERRORLEVEL%", "\tGOTO ERROR", ")", "",
    "IF [%PROCESSOR_ARCHITEW6432%] EQU [] (",
    "  set powershellPath=%windir%\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", ") ELSE (",
    "  set powershellPath=%windir%\\SysNative\\WindowsPowerShell\\v1.0\\powershell.exe", _LF + ")", _LF,
]
_WAIT = [
    "set /a counter=0", "", ":{label}", "{query}", "if %ERRORLEVEL% NEQ 0 (", "\tIF %counter% EQU 4 (",
    "\t\t@echo Microsoft Defender for Endpoint Service is not running as expected> %TMP%\\senseTmp.txt",
    "\t\tset errorCode={code}", "     set lastError=%ERRORLEVEL%", "\t\tGOTO ERROR", "\t)", "",
    "\tset /a counter=%counter%+1", "", "\ttimeout {delay} >NUL 2>&1", "\tGOTO :{label}", ")", "",
]
_TRAILER = [
    ":ERROR", "Set /P errorMsg=<%TMP%\\senseTmp.txt",
    'set "errorOutput=[Error Id: %errorCode%, Error Level: %lastError%] %errorDescription% Error message: %errorMsg%"',
    "echo %errorOutput% >NUL 2>&1", "echo. >NUL 2>&1",
    'eventcreate /l Application /so {source} /t Error /id %errorCode% /d "%errorOutput%" >NUL 2>&1',
    "GOTO CLEANUP", "", ":CLEANUP", "if exist %TMP%\\senseTmp.txt del %TMP%\\senseTmp.txt",
]


def _script(lines: list[str]) -> str:
    """Join with CRLF, except the lines marked with _LF, which end in a bare LF as in the real scripts."""
    return "".join(line[1:] + "\n" if line.startswith(_LF) else line + "\r\n" for line in lines)


def _reg_add(value: str, blob: str) -> str:
    return f'REG add "{POLICY_KEY}" /v {value} /t REG_SZ /f /d "{cmd_escape(blob)}" >NUL 2>&1'


def onboarding_cmd(org_id: str = FAKE_ORG, interactive: bool = False, body: dict | None = None) -> str:
    """The Group Policy / VDI onboarding script (or, interactive, the 'Local Script'), in the real shape."""
    blob = _blob(body or onboarding_body(org_id), org_id)
    lines = ["@echo off", ""] + (_CONSENT if interactive else [])
    lines += [line.format(what="Windows Defender Advanced Threat Protection onboarding") for line in _HEADER[2:]]
    lines += [
        'REG add "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\DataCollection" /v DisableEnterpriseAuthProxy '
        "/t REG_DWORD /f /d 1 >NUL 2>&1", _LF,
        f'REG query "{POLICY_KEY}" /v {OFFBOARDING_VALUE} /reg:64 > %TMP%\\senseTmp.txt 2>&1',
        "if %ERRORLEVEL% EQU 0 (  ",
        f'    REG delete "{POLICY_KEY}" /v {OFFBOARDING_VALUE} /f > %TMP%\\senseTmp.txt 2>&1',
        "    if %ERRORLEVEL% NEQ 0 (",
        '        set "errorDescription=Unable to delete previous offboarding information from registry."',
        "        set errorCode=5", "        set lastError=%ERRORLEVEL%", "        GOTO ERROR", "    )", ")", _LF,
        _LF + _reg_add("OnboardingInfo", blob),
        "if %ERRORLEVEL% NEQ 0 (", '   set "errorDescription=Unable to write onboarding information to registry."',
        "   set errorCode=10", "   set lastError=%ERRORLEVEL%", "   GOTO ERROR", _LF + ")", _LF,
        "sc query \"SENSE\" | find /i \"RUNNING\" >NUL 2>&1", "if %ERRORLEVEL% EQU 0 GOTO RUNNING", "",
        "net start sense > %TMP%\\senseTmp.txt 2>&1", "goto SUCCEEDED", "",
        ":RUNNING", 'eventcreate /l Application /so WDATPOnboarding /t Information /id 10 /d "running" >NUL 2>&1',
        "GOTO SUCCEEDED", "", ":SUCCEEDED",
    ]
    status = ('REG query "HKLM\\SOFTWARE\\Microsoft\\Windows Advanced Threat Protection\\Status" '
              '/v OnboardingState /reg:64')
    for label, query, code in (("SENSE_RUNNING_WAIT", 'sc query "SENSE" | find /i "RUNNING" >NUL 2>&1', 15),
                               ("SENSE_ONBOARDED_STATUS_WAIT", status + " >NUL 2>&1", 35),
                               ("SENSE_ONBOARDED_WAIT", status + ' | find /i "0x1" >NUL 2>&1', 40)):
        lines += [line.format(label=label, query=query, code=code, delay=5) for line in _WAIT]
    lines += [
        'set "successOutput=Successfully onboarded machine to Microsoft Defender for Endpoint"',
        'eventcreate /l Application /so WDATPOnboarding /t Information /id 20 /d "%successOutput%" >NUL 2>&1',
        "GOTO CLEANUP", "",
    ]
    lines += [line.format(source="WDATPOnboarding") for line in _TRAILER]
    lines += (["pause"] if interactive else []) + ["EXIT /B %errorCode%", _LF, _LF]
    return _script(lines)


def offboarding_cmd(org_id: str, expires: datetime.datetime, interactive: bool = False) -> str:
    """The Group Policy offboarding script (or, interactive, the local one that ends with ``pause``)."""
    blob = _blob(offboarding_body(org_id, expires), org_id + "off")
    lines = [line.format(what="Windows Defender Advanced Threat Protection offboarding") for line in _HEADER]
    lines += [
        f'REG query "{POLICY_KEY}" /v OnboardingInfo /reg:64 > %TMP%\\senseTmp.txt 2>&1', "if %ERRORLEVEL% EQU 0 (",
        f'    REG delete "{POLICY_KEY}" /v OnboardingInfo /f > %TMP%\\senseTmp.txt 2>&1',
        "    if %ERRORLEVEL% NEQ 0 (", "        set errorCode=5", "        GOTO ERROR", "    )", ")", "",
        _LF + _reg_add(OFFBOARDING_VALUE, blob),
        "if %ERRORLEVEL% NEQ 0 (", "   set errorCode=10", "   set lastError=%ERRORLEVEL%", "   GOTO ERROR", ")", "",
    ]
    lines += [line.format(label="SENSE_STOPPED_WAIT", query='sc query "SENSE" | find /i "STOPPED" >NUL 2>&1',
                          code=15, delay=10) for line in _WAIT]
    lines += ['eventcreate /l Application /so WDATPOffboarding /t Information /id 20 /d "offboarded" >NUL 2>&1',
              "goto EXIT", ""]
    lines += [line.format(source="WDATPOffboarding") for line in _TRAILER][:-3]
    lines += ["goto EXIT", "", ":EXIT", "if exist %TMP%\\senseTmp.txt del %TMP%\\senseTmp.txt"]
    lines += (["pause"] if interactive else []) + ["EXIT /B %errorCode%", _LF]
    return _script(lines)


def intune_file(org_id: str = FAKE_ORG) -> str:
    """The Intune / Configuration Manager ``WindowsDefenderATP.onboarding`` file: the bare blob, no newline."""
    return _blob(onboarding_body(org_id), org_id)


def mdatp_json(org_id: str = FAKE_ORG, offboarding_expires: datetime.datetime | None = None) -> str:
    if offboarding_expires is None:
        return json.dumps({"onboardingInfo": _blob(onboarding_body(org_id, linux=True), org_id + "linux")}, indent=2)
    return json.dumps({"offboardingInfo": _blob(offboarding_body(org_id, offboarding_expires), org_id + "loff")},
                      indent=2)


def linux_script(org_id: str = FAKE_ORG, offboarding_expires: datetime.datetime | None = None) -> str:
    document = mdatp_json(org_id, offboarding_expires)
    target = "mdatp_offboard.json" if offboarding_expires else "mdatp_onboard.json"
    literal = document.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return (
        "#! /usr/bin/env python3\n"
        "from __future__ import print_function\n"
        "import os, sys\n\n"
        f'TARGET = "/etc/opt/microsoft/mdatp/{target}"\n\n'
        f'CONTENT = """{literal}"""\n\n'
        "def main():\n"
        "    if os.geteuid() != 0:\n"
        "        print('This script must be run as root'); sys.exit(1)\n"
        "    os.makedirs(os.path.dirname(TARGET), exist_ok=True)\n"
        "    with open(TARGET, 'w') as handle:\n"
        "        handle.write(CONTENT)\n\n"
        "if __name__ == '__main__':\n"
        "    main()\n"
    )


def write_zip(path: str, members: dict[str, str]) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


def write_set(directory: str, now: datetime.datetime | None = None) -> dict[str, str]:
    """Write every kind of package into directory; return {label: path}."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    valid = now + datetime.timedelta(days=7)
    expired = now - datetime.timedelta(days=3)
    os.makedirs(directory, exist_ok=True)
    files = {
        "win_onboard_cmd": ("WindowsDefenderATPOnboardingScript.cmd", onboarding_cmd()),
        "win_onboard_other_org_cmd": ("other-org/WindowsDefenderATPOnboardingScript.cmd", onboarding_cmd(OTHER_ORG)),
        "win_local_script_cmd": ("local/WindowsDefenderATPLocalOnboardingScript.cmd", onboarding_cmd(interactive=True)),
        "win_local_offboard_cmd": (f"local/WindowsDefenderATPOffboardingScript_valid_until_{valid:%Y-%m-%d}.cmd",
                                   offboarding_cmd(FAKE_ORG, valid, interactive=True)),
        "win_intune_onboarding": ("intune/WindowsDefenderATP.onboarding", intune_file()),
        "win_offboard_cmd": (f"WindowsDefenderATPOffboardingScript_valid_until_{valid:%Y-%m-%d}.cmd",
                             offboarding_cmd(FAKE_ORG, valid)),
        "win_offboard_expired_cmd": (f"WindowsDefenderATPOffboardingScript_valid_until_{expired:%Y-%m-%d}.cmd",
                                     offboarding_cmd(FAKE_ORG, expired)),
        "linux_onboard_py": ("MicrosoftDefenderATPOnboardingLinuxServer.py", linux_script()),
        "linux_onboard_json": ("mdatp_onboard.json", mdatp_json()),
        "linux_offboard_py": (f"MicrosoftDefenderATPOffboardingLinuxServer_valid_until_{valid:%Y-%m-%d}.py",
                              linux_script(offboarding_expires=valid)),
        "linux_offboard_expired_py": (
            f"MicrosoftDefenderATPOffboardingLinuxServer_valid_until_{expired:%Y-%m-%d}.py",
            linux_script(offboarding_expires=expired)),
        "no_blob_cmd": ("broken/WindowsDefenderATPOnboardingScript.cmd", "@echo off\r\necho nothing here\r\n"),
    }
    paths = {}
    for label, (name, text) in files.items():
        path = os.path.join(directory, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", newline="") as handle:
            handle.write(text)
        paths[label] = path
    paths["win_onboard_zip"] = write_zip(os.path.join(directory, "WindowsDefenderATPOnboardingPackage.zip"), {
        "WindowsDefenderATPOnboardingScript.cmd": files["win_onboard_cmd"][1],
        "OptionalParamsPolicy/AtpConfiguration.admx":
            '<?xml version="1.0" encoding="utf-8"?>\r\n<policyDefinitions/>\r\n',
    })
    linux_zip = os.path.join(directory, "linux", "WindowsDefenderATPOnboardingPackage.zip")
    paths["linux_onboard_zip"] = write_zip(linux_zip, {
        "MicrosoftDefenderATPOnboardingLinuxServer.py": files["linux_onboard_py"][1],
    })
    corrupt = os.path.join(directory, "corrupt", "WindowsDefenderATPOnboardingPackage.zip")
    os.makedirs(os.path.dirname(corrupt), exist_ok=True)
    with open(paths["win_onboard_zip"], "rb") as handle:
        data = handle.read()
    with open(corrupt, "wb") as handle:
        handle.write(data[: len(data) // 2])
    paths["corrupt_zip"] = corrupt
    for label, name, data in (("md4ws_msi", "md4ws.msi", installer("md4ws", "10.8760.26100.1000")),
                              ("mma_setup", "MMASetup-AMD64.exe", installer("mma", "10.20.18069.0")),
                              ("arc_msi", "AzureConnectedMachineAgent.msi", installer("arc", ARC_VERSION)),
                              ("arc_deb", "azcmagent_amd64.deb", installer("arc_deb", ARC_VERSION)),
                              ("arc_rpm", "azcmagent.x86_64.rpm", installer("arc_rpm", ARC_VERSION)),
                              ("not_an_msi", "broken/md4ws.msi", b"this is not a Windows Installer package"),
                              ("interca_cer", "InterCA.cer", fake_certificate())):
        path = os.path.join(directory, "installers", name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
        paths[label] = path
    return paths


def fleet_vars(paths: dict[str, str]) -> dict:
    """The fleet-wide settings a user sets once (group_vars/all), pointing at a generated set."""
    return {
        "mde_onboarding_package": [paths["win_onboard_zip"], paths["linux_onboard_py"]],
        "mde_offboarding_package": [paths["win_offboard_cmd"], paths["linux_offboard_py"]],
        "mde_md4ws_installer": paths["md4ws_msi"],
        "mde_mma_installer": paths["mma_setup"],
        "mde_workspace_id": MDE_WORKSPACE_ID,
        "mde_workspace_key": FAKE_WORKSPACE_KEY,
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help"):
        print("usage: package_factory.py [DIR] [--fleet-vars FILE]: write a full set of fake packages into DIR "
              "(default ./packages); with --fleet-vars, the fleet-wide settings pointing at them, as JSON, into FILE.")
        sys.exit(0)
    target = sys.argv[1] if len(sys.argv) > 1 else "packages"
    written = write_set(os.path.abspath(target))
    if "--fleet-vars" in sys.argv:
        with open(sys.argv[sys.argv.index("--fleet-vars") + 1], "w") as out:
            json.dump(fleet_vars(written), out, indent=2)
    else:
        for key, value in sorted(written.items()):
            print(f"{key}: {value}")
