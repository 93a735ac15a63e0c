# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A WS-Management test double on 127.0.0.1 that answers Ansible's real ``winrm`` connection from the lab model.

Run: ``python server.py --config hosts.json``. The config names each host and what a real endpoint would be
(``{"user", "password", "hosts": {name: {"profile", "state", "faults"}}}``); one port is opened per host and
``{"ports": {name: port}}`` is printed on stdout once all listen. The server stops when its stdin closes or after
``--lifetime`` seconds, whichever comes first. See README.md for what it covers and what it does not.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import http.server
import json
import os
import re
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET

LAB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab")
sys.path.insert(0, LAB)

from labmodel import host as lab_host  # noqa: E402  pylint: disable=wrong-import-position
from labmodel import payload  # noqa: E402  pylint: disable=wrong-import-position
from labmodel import store as lab_store  # noqa: E402  pylint: disable=wrong-import-position

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
}
SHELL = NS["rsp"]
MAX_BODY = 32 * 1024 * 1024        # a Send carries at most 200,000 bytes of stdin (base64: ~270 KB)
MAX_STDIN = 256 * 1024 * 1024      # the largest module payload or file this double accepts
SEPARATOR = b"\n\0\0\0\0\n"       # between bootstrap input, exec manifest and put_file data


def shape(text: str) -> list[str]:
    """A command line's words with every encoded blob shortened, for the request log (base64 of code, no secret)."""
    return [w if len(w) < 64 else f"<{len(w)} chars>" for w in text.split(" ")] if text else []


def encoded_script(command: str, args: list[str]) -> str | None:
    """The PowerShell script of a ``powershell ... -EncodedCommand <utf-16-le base64>`` line, in either form
    ansible-core sends it: one command string (2.21, cmd shell) or a command and its arguments (2.19, put_file on
    2.21); a ``cmd /c powershell ...`` wrapper is read the same way."""
    words = " ".join([command, *args]).split()
    for index, word in enumerate(words[:-1]):
        if word.lower() in ("-encodedcommand", "-enc", "-e"):
            try:
                return base64.b64decode(words[index + 1]).decode("utf-16-le")
            except (binascii.Error, UnicodeDecodeError):
                return None
    return None


class Command:
    def __init__(self, command: str, args: list[str], console_stdin: bool):
        self.command, self.args = command, args
        self.stdin = bytearray()
        self.stdin_done = console_stdin     # WINRS_CONSOLEMODE_STDIN: no stdin is coming
        self.result: tuple[int, bytes, bytes] | None = None
        self.receives = 0
        self.started = time.monotonic()
        self.logged = False


class Endpoint:
    """One Windows host behind one port: its shells, its commands and how each command is answered."""

    def __init__(self, name: str, spec: dict, user: str, password: str, log_path: str | None):
        self.name, self.spec = name, spec
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.shells: dict[str, dict[str, Command]] = {}
        self.lock = threading.Lock()
        self.log_path = log_path

    def log(self, entry: dict) -> None:
        if self.log_path:
            with self.lock, open(self.log_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(dict(entry, host=self.name)) + "\n")

    # -- what a command does --------------------------------------------------------------------------------------
    def run(self, cmd: Command) -> tuple[int, bytes, bytes]:
        script = encoded_script(cmd.command, cmd.args)
        data = bytes(cmd.stdin)
        if script is None or not data:
            return 1, b"", b"winrm double: only PowerShell bootstrap commands with stdin are modeled\r\n"
        parts = data.split(SEPARATOR, 2)
        try:
            manifest = json.loads(parts[1]) if len(parts) > 1 else {}
        except ValueError:
            manifest = {}
        names = [a.get("name") for a in manifest.get("actions", [])]
        if "winrm_put_file.ps1" in names and len(parts) == 3:
            action = next(a for a in manifest["actions"] if a["name"] == "winrm_put_file.ps1")
            return self.put_file(action["params"]["Path"], parts[2])
        try:
            call = payload.decode_powershell(data)
        except payload.PayloadError as exc:
            return 1, b"", str(exc).encode()
        result = lab_host.execute(self.name, self.spec["profile"], self.spec.get("state") or {},
                                  list(self.spec.get("faults") or []), call)
        result.setdefault("invocation", {"module_args": call.params})
        return 0, json.dumps(result).encode(), b""

    def put_file(self, path: str, lines: bytes) -> tuple[int, bytes, bytes]:
        """winrm_put_file.ps1: base64 lines on stdin, the file written, its sha1 returned."""
        try:
            data = b"".join(base64.b64decode(line) for line in lines.split(b"\r\n") if line.strip())
        except binascii.Error as exc:
            return 1, b"", f"winrm double: put_file data is not base64: {exc}".encode()
        lab_store.stage(self.name, path, data)
        lab_store.log_call(self.name, {"transfer": path, "size": len(data), "outcome": "ok"})
        return 0, json.dumps({"sha1": hashlib.sha1(data).hexdigest()}).encode(), b""

    # -- WS-Management ------------------------------------------------------------------------------------------
    def handle(self, action: str, selectors: dict, body: ET.Element) -> tuple[str, str]:
        """Answer one request: (response action, response body XML)."""
        verb = action.rsplit("/", 1)[-1]
        shell_id = selectors.get("ShellId", "")
        if verb == "Create":
            shell_id = str(uuid.uuid4()).upper()
            with self.lock:
                self.shells[shell_id] = {}
            return (action + "Response",
                    f'<x:ResourceCreated xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer">'
                    f'<a:Address>http://127.0.0.1/wsman</a:Address><a:ReferenceParameters>'
                    f'<w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</w:ResourceURI>'
                    f'<w:SelectorSet><w:Selector Name="ShellId">{shell_id}</w:Selector></w:SelectorSet>'
                    f'</a:ReferenceParameters></x:ResourceCreated>'
                    f'<rsp:Shell><rsp:ShellId>{shell_id}</rsp:ShellId></rsp:Shell>')
        shell = self.shells.get(shell_id)
        if shell is None:
            raise KeyError(f"unknown shell {shell_id!r}")
        if verb == "Delete":
            with self.lock:
                self.shells.pop(shell_id, None)
            return action + "Response", ""
        if verb == "Command":
            line = body.find("rsp:CommandLine", NS)
            command = (line.findtext("rsp:Command", "", NS) if line is not None else "").strip('"')
            args = [a.text or "" for a in line.findall("rsp:Arguments", NS)] if line is not None else []
            console = selectors.get("WINRS_CONSOLEMODE_STDIN", "").upper() == "TRUE"
            command_id = str(uuid.uuid4()).upper()
            shell[command_id] = Command(command, args, console)
            self.log({"action": "Command", "command": shape(command), "arguments": [shape(a) for a in args],
                      "console_stdin": console})
            return (SHELL + "/CommandResponse",
                    f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>")
        if verb == "Send":
            for stream in body.iter(f"{{{SHELL}}}Stream"):
                cmd = shell[stream.get("CommandId")]
                cmd.stdin += base64.b64decode(stream.text or "")
                if len(cmd.stdin) > MAX_STDIN:
                    raise ValueError("stdin too large")
                cmd.stdin_done = cmd.stdin_done or stream.get("End", "").lower() == "true"
            return SHELL + "/SendResponse", "<rsp:SendResponse/>"
        if verb == "Receive":
            command_id = body.find("rsp:Receive/rsp:DesiredStream", NS).get("CommandId")
            cmd = shell[command_id]
            cmd.receives += 1
            if not cmd.stdin_done and cmd.receives < 100:
                time.sleep(0.05)
                return (SHELL + "/ReceiveResponse", f'<rsp:ReceiveResponse><rsp:CommandState CommandId="{command_id}" '
                        f'State="{SHELL}/CommandState/Running"/></rsp:ReceiveResponse>')
            if cmd.result is None:
                cmd.result = self.run(cmd) if cmd.stdin_done else (1, b"", b"winrm double: stdin never ended")
            rc, out, err = cmd.result
            if not cmd.logged:
                cmd.logged = True
                self.log({"action": "Done", "rc": rc, "stdin_bytes": len(cmd.stdin),
                          "seconds": round(time.monotonic() - cmd.started, 3)})
            streams = "".join(f'<rsp:Stream Name="{name}" CommandId="{command_id}">{base64.b64encode(data).decode()}'
                              f'</rsp:Stream><rsp:Stream Name="{name}" CommandId="{command_id}" End="true"/>'
                              for name, data in (("stdout", out), ("stderr", err)))
            return (SHELL + "/ReceiveResponse",
                    f'<rsp:ReceiveResponse>{streams}<rsp:CommandState CommandId="{command_id}" '
                    f'State="{SHELL}/CommandState/Done"><rsp:ExitCode>{rc}</rsp:ExitCode></rsp:CommandState>'
                    f'</rsp:ReceiveResponse>')
        if verb == "Signal":
            signal = body.find("rsp:Signal", NS)
            if signal is not None:
                shell.pop(signal.get("CommandId"), None)
            return SHELL + "/SignalResponse", "<rsp:SignalResponse/>"
        raise KeyError(f"action {action!r} is not modeled")


def envelope(action: str, relates_to: str, body: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>'
            f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:a="{NS["a"]}" xmlns:w="{NS["w"]}" xmlns:rsp="{NS["rsp"]}">'
            f'<s:Header><a:Action>{action}</a:Action><a:MessageID>uuid:{uuid.uuid4()}</a:MessageID>'
            f'<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>'
            f'<a:RelatesTo>{relates_to}</a:RelatesTo></s:Header><s:Body>{body}</s:Body></s:Envelope>').encode()


def fault(relates_to: str, reason: str) -> bytes:
    body = (f'<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code>'
            f'<s:Reason><s:Text xml:lang="en-US">{reason}</s:Text></s:Reason></s:Fault>')
    return envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to, body)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60                       # a silent client never holds a thread for longer
    endpoint: Endpoint

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        """Silent: http.server would print to stderr; the request log holds what the tests read."""

    def reply(self, code: int, data: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            self.reply(413)
            return
        request = self.rfile.read(length)
        if self.path != "/wsman":
            self.reply(404)
            return
        if self.headers.get("Authorization") != self.endpoint.auth:
            self.endpoint.log({"action": "auth", "outcome": "refused"})
            self.reply(401, headers={"WWW-Authenticate": 'Basic realm="WSMAN"'})
            return
        message_id = ""
        try:
            root = ET.fromstring(request)
            header, body = root.find("s:Header", NS), root.find("s:Body", NS)
            message_id = header.findtext("a:MessageID", "", NS)
            action = header.findtext("a:Action", "", NS)
            selectors = {s.get("Name"): s.text or "" for s in header.iter(f"{{{NS['w']}}}Selector")}
            selectors.update({o.get("Name"): o.text or "" for o in header.iter(f"{{{NS['w']}}}Option")})
            answer_action, answer = self.endpoint.handle(action, selectors, body)
        except lab_host.ConnectionDropped:
            self.close_connection = True   # what a dropped connection looks like to the client
            return
        except (ET.ParseError, KeyError, ValueError, AttributeError, TypeError) as exc:
            self.reply(500, fault(message_id, f"winrm double: {type(exc).__name__}: {exc}"))
            return
        self.reply(200, envelope(answer_action, message_id, answer))


def serve(config: dict, log_path: str | None, lifetime: float) -> None:
    servers = {}
    for name, spec in config["hosts"].items():
        endpoint = Endpoint(name, spec, config["user"], config["password"], log_path)
        handler = type("Handler_" + re.sub(r"\W", "_", name), (Handler,), {"endpoint": endpoint})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        servers[name] = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    print(json.dumps({"ports": {name: s.server_address[1] for name, s in servers.items()}}), flush=True)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait(lifetime)
    for server in servers.values():
        server.shutdown()
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="JSON: user, password, hosts {name: {profile, state, faults}}")
    parser.add_argument("--log", help="append one JSON line per WS-Management command (shapes only, no secrets)")
    parser.add_argument("--lifetime", type=float, default=900.0, help="stop after this many seconds at the latest")
    opts = parser.parse_args(argv)
    with open(opts.config, encoding="utf-8") as handle:
        config = json.load(handle)
    serve(config, opts.log, opts.lifetime)
    return 0


if __name__ == "__main__":
    sys.exit(main())
