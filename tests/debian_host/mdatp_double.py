# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test double of Microsoft's mdatp command line, installed as /usr/bin/mdatp by the test package.

It answers from the files the real daemon reads: mdatp_onboard.json (licence, org id), mdatp_offboard.json,
managed/mdatp_managed.json (antivirusEngine.enforcementLevel). The test sets the daemon's timing in
/var/lib/mdatp-double/control.json: start_delay (s, "daemon not ready" until then), definitions_delay (s, healthy
false until then), never_healthy. The start time is when the package was installed (postinst).
"""

import datetime
import hashlib
import json
import os
import sys
import time

VERSION = "@VERSION@"
MDATP = "/etc/opt/microsoft/mdatp"
STATE = "/var/lib/mdatp-double"
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
SCANNED = ("/tmp", "/var/tmp", "/root", "/home")


def _json(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def org_id():
    try:
        blob = _json(MDATP + "/mdatp_onboard.json")["onboardingInfo"]
        return json.loads(json.loads(blob)["body"])["orgId"]
    except (TypeError, KeyError, ValueError):
        return None


def health():
    control = _json(STATE + "/control.json") or {}
    try:
        with open(STATE + "/started_at") as handle:
            started = float(handle.read())
    except (OSError, ValueError):
        started = 0.0
    age = time.time() - started
    if age < float(control.get("start_delay", 0)):
        sys.stderr.write("Could not connect to daemon: the daemon is not running yet (starting)\n")
        sys.exit(1)
    org = org_id()
    licensed = bool(org) and not os.path.exists(MDATP + "/mdatp_offboard.json")
    definitions = not control.get("never_healthy") and age >= float(control.get("definitions_delay", 0))
    level = ((_json(MDATP + "/managed/mdatp_managed.json") or {}).get("antivirusEngine") or {}).get(
        "enforcementLevel", "real_time")
    issues = [] if definitions else ["no active event provider", "definitions not yet downloaded"]
    if not licensed:
        issues.append("missing license")
    return {
        "healthy": licensed and definitions,
        "health_issues": issues,
        "licensed": licensed,
        "org_id": org.lower() if licensed else "unavailable",
        "passive_mode_enabled": level == "passive",
        "real_time_protection_enabled": level == "real_time",
        "definitions_status": "up_to_date" if definitions else "unavailable",
        "app_version": VERSION,
        "conflicting_applications": [],
        "edr_machine_id": hashlib.sha1((org or "").encode()).hexdigest() if licensed else "",
    }


def _camel(name):
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


SETTINGS = ("passive_mode_enabled", "real_time_protection_enabled")


def health_json(values):
    """The real product's --output json shape: camelCase keys, settings as {"value": ...} objects."""
    out = {"$type": "getHealthAllResult"}
    for key, value in values.items():
        if key in SETTINGS:
            value = {"displayValue": True, "isManaged": False, "value": value}
        elif key == "definitions_status":
            value = {"$type": "upToDate" if value == "up_to_date" else "unavailable"}
        out[_camel(key)] = value
    return out


def field_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(json.dumps(v) for v in value) + "]"
    return json.dumps(value)


def threats(values):
    if values["passive_mode_enabled"] or not values["real_time_protection_enabled"]:
        return []
    found = []
    for top in SCANNED:
        for folder, _dirs, files in os.walk(top):
            for name in files:
                path = os.path.join(folder, name)
                try:
                    if not os.path.isfile(path) or os.path.getsize(path) > 1024 * 1024:
                        continue
                    with open(path, "rb") as handle:
                        if EICAR not in handle.read():
                            continue
                    when = datetime.datetime.fromtimestamp(os.path.getmtime(path), datetime.timezone.utc)
                except OSError:
                    continue
                found.append({"id": hashlib.sha1(path.encode()).hexdigest()[:16], "name": "Virus:DOS/EICAR_Test_File",
                              "path": path, "detectionTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")})
    return found


def main(args):
    if args[:1] == ["version"]:
        print("Product version: %s" % VERSION)
        return 0
    if args[:2] == ["threat", "list"]:
        values = health()
        items = threats(values)
        if "json" in args:
            print(json.dumps(items))
        else:
            for item in items:
                print("Id: %(id)s\nName: %(name)s\nPath: %(path)s\n" % item)
        return 0
    if args[:1] == ["health"]:
        values = health()
        if "--field" in args:
            name = args[args.index("--field") + 1] if len(args) > args.index("--field") + 1 else ""
            if name not in values:
                sys.stderr.write("Unknown field: %s\n" % name)
                return 2
            if not values["licensed"]:
                print("ATTENTION: No license found. Contact your administrator for help.")
            print(field_text(values[name]))
            return 0
        if "json" in args:
            style = (_json(STATE + "/control.json") or {}).get("health_json", "product")
            print(json.dumps(values if style == "snake" else health_json(values)))
            return 0
        if not values["licensed"]:
            print("ATTENTION: No license found. Contact your administrator for help.")
        for key, value in values.items():
            print("%-44s: %s" % (key, field_text(value)))
        return 0
    sys.stderr.write("mdatp (test double): unsupported command %s\n" % " ".join(args))
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
