# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Linux executor's Python, function by function, with a fake AnsibleModule and the file system in tmp_path."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.defender.endpoint.plugins.modules import mde_host_linux as host

ORG = "00000000-1111-4222-8333-444444444444"
BASE = "https://repo.example.test"


class FakeModule:
    """Records run_command calls; answers from a list of (rc, out, err) or a callable."""

    def __init__(self, answers=None, binaries=("apt-get", "gpg", "mdatp"), params=None):
        self.calls, self.binaries = [], set(binaries)
        self.answers = answers if callable(answers) else list(answers or [])
        self.params = dict({"secrets": {}, "staged": [], "steps": [], "timeout": 900}, **(params or {}))

    def get_bin_path(self, name):
        return f"/usr/bin/{name}" if name in self.binaries else None

    def run_command(self, args, **kwargs):
        self.calls.append(list(args))
        if callable(self.answers):
            return self.answers(list(args), kwargs)
        return self.answers.pop(0) if self.answers else (0, "", "")


@pytest.fixture
def root(tmp_path, monkeypatch):
    """Every path the executor writes, moved under tmp_path; downloads answered from a dict."""
    paths = {"APT_SOURCES_DIR": "etc/apt/sources.list.d", "APT_KEYRING": "usr/share/keyrings/microsoft-prod.gpg",
             "APT_TRUSTED_KEY": "etc/apt/trusted.gpg.d/microsoft-prod.gpg", "RPM_KEY": "etc/pki/rpm-gpg/microsoft.asc",
             "YUM_REPOS_DIR": "etc/yum.repos.d", "ZYPP_REPOS_DIR": "etc/zypp/repos.d",
             "MANAGED_JSON": "etc/opt/microsoft/mdatp/managed/mdatp_managed.json", "DETECTION_DIR": "tmp"}
    for name, relative in paths.items():
        monkeypatch.setattr(host, name, str(tmp_path / relative))
    (tmp_path / "tmp").mkdir()
    keyring = str(tmp_path / paths["APT_KEYRING"])
    served = {
        BASE + "/keys/microsoft.asc": b"-----BEGIN PGP PUBLIC KEY BLOCK-----\nkey\n",
        BASE + "/config/debian/12/prod.list": f"deb [arch=amd64 signed-by={keyring}] {BASE}/debian/12/prod bookworm "
                                              "main\n".encode(),
        BASE + "/config/rhel/9/prod.repo": f"[packages-microsoft-com-prod]\nbaseurl={BASE}/rhel/9/prod/\n".encode(),
        BASE + "/config/sles/15/prod.repo": f"[packages-microsoft-com-prod]\nbaseurl={BASE}/sles/15/prod/\n".encode(),
    }
    monkeypatch.setattr(host, "_download", lambda url, timeout: served[url])
    monkeypatch.setattr(host.time, "sleep", lambda seconds: None)
    return tmp_path


TIMEOUT = ["timeout", "--foreground", "-k", "10"]   # the bounded, foreground wrapper of every command


def tree(base):
    return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())


def repo_step(manager):
    distro, version = {"apt-get": ("debian", "12"), "zypper": ("sles", "15")}.get(manager, ("rhel", "9"))
    return {"name": "setup_repository", "package_manager": manager, "base_url": BASE, "channel": "prod",
            "distro": distro, "version": version}


# ---- probe helpers ----

def test_os_release_is_parsed_with_quotes_and_comments(tmp_path):
    path = tmp_path / "os-release"
    path.write_text('# comment\nID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
                    'ID_LIKE="rhel fedora"\nbroken line\n')
    facts = host.read_os_release(str(path))
    assert (facts["id"], facts["version_id"], facts["id_like"]) == ("debian", "12", "rhel fedora")
    assert facts["pretty_name"] == "Debian GNU/Linux 12 (bookworm)" and facts["kernel"] and facts["architecture"]
    assert host.read_os_release(str(tmp_path / "missing"))["id"] is None


def test_org_id_of_the_onboarding_json(tmp_path):
    blob = json.dumps({"body": json.dumps({"orgId": ORG, "vers": "1.0"}), "sig": "s"})
    path = tmp_path / "mdatp_onboard.json"
    path.write_text(json.dumps({"onboardingInfo": blob}))
    assert host.org_id_of(str(path), "onboardingInfo") == ORG
    assert host.org_id_of(str(path), "offboardingInfo") is None
    path.write_text("not json")
    assert host.org_id_of(str(path), "onboardingInfo") is None
    assert host.org_id_of(str(tmp_path / "absent"), "onboardingInfo") is None


def test_fanotify_holders_from_a_fake_proc(tmp_path):
    def proc(pid, comm, fds):
        (tmp_path / str(pid) / "fdinfo").mkdir(parents=True)
        (tmp_path / str(pid) / "comm").write_text(comm + "\n")
        for fd, text in fds.items():
            (tmp_path / str(pid) / "fdinfo" / fd).write_text(text)
    proc(10, "falcon-sensor", {"3": "pos: 0\nfanotify flags:10 event-flags:0\nfanotify mnt_id:1 mflags:0\n",
                               "4": "fanotify mnt_id:2 mflags:0\n"})
    proc(11, "wdavdaemon", {"3": "fanotify mnt_id:1 mflags:0\n"})
    proc(12, "bash", {"0": "pos: 0\nflags: 02\n"})
    (tmp_path / "self").mkdir()
    assert host.fanotify_holders(str(tmp_path)) == [{"pid": 10, "comm": "falcon-sensor"}]


def test_managed_config_merge_sets_and_removes_keys(root):
    path = root / "etc/opt/microsoft/mdatp/managed/mdatp_managed.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"antivirusEngine": {"enforcementLevel": "real_time", "keep": 1}, "other": {"x": 2}}))
    step = {"settings": {"antivirusEngine": {"enforcementLevel": "passive", "keep": None},
                         "cloudService": {"proxy": "http://proxy:8080"}}}
    assert host.step_merge_managed_config(FakeModule(), step, {}, 10)
    assert json.loads(path.read_text()) == {"antivirusEngine": {"enforcementLevel": "passive"}, "other": {"x": 2},
                                            "cloudService": {"proxy": "http://proxy:8080"}}
    assert oct(path.stat().st_mode & 0o777) == "0o644" and tree(root) == [str(path.relative_to(root))]
    path.write_text("{broken")
    assert host.managed_config() is None


def test_a_proxy_with_credentials_is_written_0600_from_the_secrets_and_never_returned(root, monkeypatch):
    """The proxy's user and password come from the no_log secrets, make the file 0600, and the probe masks them."""
    path = root / "etc/opt/microsoft/mdatp/managed/mdatp_managed.json"
    proxy = "http://svc-mde:S3cr3t-pw@proxy.example:3128/"
    module = FakeModule(params={"secrets": {"proxy": proxy}})
    step = {"settings": {"cloudService": {"proxy": "http://********@proxy.example:3128/"}},
            "secret_settings": {"cloudService": {"proxy": "proxy"}}}
    assert host.step_merge_managed_config(module, step, {}, 10)
    assert json.loads(path.read_text()) == {"cloudService": {"proxy": proxy}}
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    monkeypatch.setattr(host, "repository_files", lambda: [])
    facts = host.probe(module)
    assert facts["managed_config"] == {"cloudService": {"proxy": "http://********@proxy.example:3128/"}}
    assert facts["managed_config_mode"] == "0600" and facts["proxy_matches"] is True
    assert "S3cr3t-pw" not in json.dumps(facts) and "svc-mde" not in json.dumps(facts)
    assert host.probe(FakeModule(params={"secrets": {"proxy": "http://u:other@proxy.example:3128/"}}))[
        "proxy_matches"] is False
    assert host.probe(FakeModule())["proxy_matches"] is None
    # Removing the credential makes the file readable again, as mdatp's documentation shows it.
    assert host.step_merge_managed_config(FakeModule(), {"settings": {"cloudService": {"proxy": "http://p:3128"}}},
                                          {}, 10)
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_step_details_never_carry_a_proxy_credential(monkeypatch):
    def failing(module, step, record, timeout):
        raise OSError("Could not resolve proxy http://svc-mde:S3cr3t-pw@proxy.example:3128")
    monkeypatch.setitem(host.STEPS, "install_package", failing)
    records = host.apply(FakeModule(params={"steps": [{"name": "install_package"}]}))
    assert records[0]["status"] == "failed" and "S3cr3t-pw" not in records[0]["detail"]
    assert "http://********@proxy.example:3128" in records[0]["detail"]


# ---- each step's command line ----

@pytest.mark.parametrize("manager,version,expected", [
    ("apt-get", None, ["apt-get", "install", "-y", "mdatp"]),
    ("apt-get", "101.1", ["apt-get", "install", "-y", "mdatp=101.1"]),
    ("dnf", "101.1", ["dnf", "install", "-y", "mdatp-101.1"]),
    ("yum", None, ["yum", "install", "-y", "mdatp"]),
    ("zypper", None, ["zypper", "--non-interactive", "install", "mdatp"]),
])
def test_install_command_lines(manager, version, expected):
    module = FakeModule()
    assert host.step_install_package(module, {"package_manager": manager, "package": "mdatp", "version": version},
                                     {}, 30)
    assert module.calls == [[*TIMEOUT, "30"] + expected]


@pytest.mark.parametrize("manager,expected", [
    ("apt-get", ["apt-get", "purge", "-y", "mdatp"]), ("dnf", ["dnf", "remove", "-y", "mdatp"]),
    ("yum", ["yum", "remove", "-y", "mdatp"]), ("zypper", ["zypper", "--non-interactive", "remove", "mdatp"]),
])
def test_remove_command_lines(manager, expected):
    module = FakeModule()
    record = {}
    assert host.step_remove_package(module, {"package_manager": manager, "package": "mdatp"}, record, 40)
    assert module.calls == [[*TIMEOUT, "40"] + expected] and record["rc"] == 0


def test_a_timed_out_command_says_so():
    record = {}
    assert not host.step_install_package(FakeModule([(124, "", "")]), {"package_manager": "dnf", "package": "mdatp"},
                                         record, 5)
    assert record["timed_out"] and record["timeout"] == 5


def test_wait_health_polls_until_licensed_to_the_org(monkeypatch):
    healthy = json.dumps({"licensed": True, "healthy": True, "org_id": ORG.upper()})
    module = FakeModule([(1, "", "daemon not running"), (0, healthy, "")])
    assert host.step_wait_health(module, {"until": "onboarded", "org_id": ORG, "timeout": 60}, {}, 60)
    assert module.calls == [["/usr/bin/mdatp", "health", "--output", "json"]] * 2
    record = {}
    assert not host.step_wait_health(FakeModule([(1, "", "daemon not running")]),
                                     {"until": "onboarded", "org_id": ORG, "timeout": 0}, record, 60)
    assert record["timed_out"] and record["detail"] == "daemon not running"


def test_secret_file_mode_and_remove_file(root):
    path = root / "etc/opt/microsoft/mdatp/mdatp_onboard.json"
    module = FakeModule(params={"secrets": {"onboarding_json": "{}"}})
    assert host.step_write_secret_file(module, {"path": str(path), "secret": "onboarding_json"}, {}, 5)
    assert path.read_text() == "{}" and oct(path.stat().st_mode & 0o777) == "0o600"
    assert host.step_remove_file(module, {"path": str(path)}, {}, 5) and not path.exists()
    assert host.step_remove_file(module, {"path": str(path)}, {}, 5)


# ---- setup_repository: success and failure for each package manager ----

def _repo_answers(fail_at):
    def answer(args, kwargs):
        if args[0] == "gpg":
            return (2, b"", b"gpg: no valid OpenPGP data found") if fail_at == "gpg" else (0, b"DEARMORED", b"")
        if args[len(TIMEOUT) + 1] in ("apt-get", "dnf", "yum", "zypper") and fail_at == "refresh":
            return 100, "", "E: The repository is not signed."
        if args[len(TIMEOUT) + 1] == "rpm" and fail_at == "rpm":
            return 1, "", "error: import failed"
        return 0, "", ""
    return answer


@pytest.mark.parametrize("manager,refresh", [
    ("apt-get", ["apt-get", "update"]), ("dnf", ["dnf", "makecache"]), ("yum", ["yum", "makecache"]),
    ("zypper", ["zypper", "--non-interactive", "refresh"]),
])
def test_setup_repository_success_publishes_a_usable_repository(root, manager, refresh):
    module = FakeModule(_repo_answers(None))
    record = {}
    assert host.step_setup_repository(module, repo_step(manager), record, 60), record
    assert module.calls[-1] == [*TIMEOUT, "60"] + refresh
    if manager == "apt-get":
        assert module.calls[0] == ["gpg", "--dearmor"]
        assert tree(root) == ["etc/apt/sources.list.d/microsoft-prod.list", "usr/share/keyrings/microsoft-prod.gpg"]
    else:
        assert module.calls[0] == [*TIMEOUT, "60", "rpm", "--import", host.RPM_KEY]
        folder = "etc/zypp/repos.d" if manager == "zypper" else "etc/yum.repos.d"
        assert tree(root) == sorted([f"{folder}/microsoft-prod.repo", "etc/pki/rpm-gpg/microsoft.asc"])
    assert len(host.repository_files()) == 1


@pytest.mark.parametrize("manager,fail_at", [
    ("apt-get", "refresh"), ("apt-get", "gpg"), ("dnf", "refresh"), ("dnf", "rpm"), ("yum", "refresh"),
    ("zypper", "refresh"), ("zypper", "rpm"),
])
def test_setup_repository_failure_leaves_nothing_behind(root, manager, fail_at):
    record = {}
    assert not host.step_setup_repository(FakeModule(_repo_answers(fail_at)), repo_step(manager), record, 60)
    assert record["detail"] and tree(root) == [] and host.repository_files() == []
    # the re-run with the fault removed converges
    assert host.step_setup_repository(FakeModule(_repo_answers(None)), repo_step(manager), {}, 60)
    assert len(host.repository_files()) == 1


def test_setup_repository_failure_restores_the_previous_files(root):
    listing = root / "etc/apt/sources.list.d/microsoft-prod.list"
    keyring = root / "usr/share/keyrings/microsoft-prod.gpg"
    assert host.step_setup_repository(FakeModule(_repo_answers(None)), repo_step("apt-get"), {}, 60)
    before = {p: (root / p).read_bytes() for p in tree(root)}
    keyring.write_bytes(b"OLD KEYRING")
    before[str(keyring.relative_to(root))] = b"OLD KEYRING"
    assert not host.step_setup_repository(FakeModule(_repo_answers("refresh")), repo_step("apt-get"), {}, 60)
    assert {p: (root / p).read_bytes() for p in tree(root)} == before and listing.exists()


def test_a_download_failure_writes_nothing(root, monkeypatch):
    def unreachable(url, timeout):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")
    monkeypatch.setattr(host, "_download", unreachable)
    with pytest.raises(OSError):
        host.step_setup_repository(FakeModule(_repo_answers(None)), repo_step("dnf"), {}, 60)
    assert tree(root) == []


def test_probe_calls_a_half_written_repository_absent(root):
    sources = root / "etc/apt/sources.list.d"
    sources.mkdir(parents=True)
    keyring = root / "usr/share/keyrings/microsoft-prod.gpg"
    (sources / "microsoft-prod.list").write_text(f"deb [signed-by={keyring}] {BASE}/debian/12/prod bookworm main\n")
    assert host.repository_files() == []                       # list without its keyring: the defect of issue 14
    keyring.parent.mkdir(parents=True)
    keyring.write_bytes(b"KEY")
    assert host.repository_files() == [str(sources / "microsoft-prod.list")]
    (sources / "microsoft-prod.list").write_text("# emptied by hand\n")
    assert host.repository_files() == []
    repos = root / "etc/yum.repos.d"
    repos.mkdir(parents=True)
    (repos / "microsoft-prod.repo").write_text(f"[m]\nbaseurl={BASE}/rhel/9/prod/\n")
    assert host.repository_files() == []                       # its key was never imported
    (root / "etc/pki/rpm-gpg").mkdir(parents=True)
    (root / "etc/pki/rpm-gpg/microsoft.asc").write_text("KEY")
    assert host.repository_files() == [str(repos / "microsoft-prod.repo")]


# ---- apply ----

def test_apply_stops_at_the_first_failure_and_deletes_the_staged_files(root, tmp_path):
    staged = tmp_path / "tmp" / "defender.endpoint-abc-script.sh"
    staged.write_text("echo")
    steps = [{"name": "install_package", "package_manager": "apt-get", "package": "mdatp"},
             {"name": "remove_package", "package_manager": "apt-get", "package": "mdatp"},
             {"name": "remove_file", "path": str(staged)}]
    module = FakeModule([(0, "", ""), (100, "", "E: Unable to locate package mdatp")],
                        params={"steps": steps, "staged": [str(staged)]})
    records = host.apply(module)
    assert [r["status"] for r in records] == ["ok", "failed", "skipped"]
    assert records[1]["rc"] == 100 and "Unable to locate" in records[1]["detail"]
    assert len(module.calls) == 2 and not staged.exists()


def test_apply_reports_an_unknown_step_and_an_exception():
    module = FakeModule(params={"steps": [{"name": "nope"}, {"name": "install_package"}]})
    records = host.apply(module)
    assert records[0] == {"name": "nope", "status": "failed", "rc": None, "detail": "unknown step nope"}
    assert records[1]["status"] == "skipped"
    records = host.apply(FakeModule(params={"steps": [{"name": "install_package"}]}))
    assert records[0]["status"] == "failed" and "package_manager" in records[0]["detail"]


# ---- the Linux detection test (R-52) ----

def _threats(detect_after):
    seen = {"polls": 0}

    def answer(args, kwargs):
        assert args == ["/usr/bin/mdatp", "threat", "list", "--output", "json"]
        seen["polls"] += 1
        files = list(os.listdir(host.DETECTION_DIR))
        if seen["polls"] < detect_after or not files:
            return 0, "[]", ""
        path = os.path.join(host.DETECTION_DIR, files[0])
        with open(path, "rb") as handle:
            assert handle.read() == host.eicar()
        assert oct(os.stat(path).st_mode & 0o777) == "0o644"
        return 0, json.dumps([{"id": "1", "name": "Virus:DOS/EICAR_Test_File", "path": path,
                               "detectionTime": "2026-12-01T22:00:00Z"}]), ""
    return answer, seen


def test_av_detection_reports_the_file_and_deletes_it(root):
    answer, seen = _threats(detect_after=3)
    record = {}
    assert host.step_av_detection(FakeModule(answer), {"timeout": 60}, record, 900)
    assert record["detected"] is True and seen["polls"] == 3
    assert record["path"].startswith(host.DETECTION_DIR + "/") and os.listdir(host.DETECTION_DIR) == []
    assert len(host.eicar()) == 68 and host.eicar().endswith(b"$H+H*")


def test_av_detection_gives_up_within_the_bound_and_still_deletes(root, monkeypatch):
    clock = {"now": 1000.0}
    monkeypatch.setattr(host.time, "time", lambda: clock["now"])
    monkeypatch.setattr(host.time, "sleep", lambda seconds: clock.__setitem__("now", clock["now"] + seconds))
    module = FakeModule(lambda args, kwargs: (0, "[]", ""))
    record = {}
    assert host.step_av_detection(module, {"timeout": 10}, record, 900)
    assert record["detected"] is False and "within 10 s" in record["detail"]
    assert len(module.calls) == 6 and os.listdir(host.DETECTION_DIR) == []


def test_av_detection_without_mdatp_fails(root):
    record = {}
    assert not host.step_av_detection(FakeModule(binaries=()), {}, record, 900)
    assert record["detail"] == "mdatp: command not found" and os.listdir(host.DETECTION_DIR) == []


def test_edr_script_runs_with_bash_under_a_bound():
    module = FakeModule()
    assert host.step_run_edr_script(module, {"path": "/var/tmp/x-mde_linux_edr_diy.sh", "timeout": 120}, {}, 900)
    assert module.calls == [[*TIMEOUT, "120", "bash", "/var/tmp/x-mde_linux_edr_diy.sh"]]


def test_health_in_the_product_shape_is_read_as_the_facts_name_it():
    """mdatp prints camelCase keys, settings as {"value": ...} objects and states as {"$type": ...} objects."""
    product = {
        "$type": "getHealthAllResult", "appVersion": "101.23062.0010", "healthy": True, "licensed": True,
        "healthIssues": [], "orgId": "00000000-1111-4222-8333-444444444444", "conflictingApplications": [],
        "definitionsStatus": {"$type": "upToDate"}, "edrMachineId": "abc",
        "passiveModeEnabled": {"displayValue": True, "isManaged": False, "value": True},
        "realTimeProtectionEnabled": {"displayValue": True, "isManaged": True, "value": False},
    }
    health = host.normalize_health(product)
    assert health == {"app_version": "101.23062.0010", "healthy": True, "licensed": True, "health_issues": [],
                      "org_id": "00000000-1111-4222-8333-444444444444", "conflicting_applications": [],
                      "definitions_status": "up_to_date", "edr_machine_id": "abc", "passive_mode_enabled": True,
                      "real_time_protection_enabled": False}
    assert host.normalize_health(health) == health            # already in the facts' names: unchanged


def test_health_after_an_attention_line_is_still_read():
    answer = "ATTENTION: No license found. Contact your administrator for help.\n" + json.dumps(
        {"healthy": False, "licensed": False, "orgId": None, "healthIssues": ["missing license"]})
    module = FakeModule(lambda args, kwargs: (0, answer, ""))
    module.get_bin_path = lambda name: "/usr/bin/mdatp"
    facts = host.mdatp_health(module)
    assert facts["health"]["health_issues"] == ["missing license"] and facts["health"]["licensed"] is False
