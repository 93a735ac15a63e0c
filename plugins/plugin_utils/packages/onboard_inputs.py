# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mde_onboard's inputs, read on the controller before the host is touched: the options that contradict each other,
the installer to copy (or the one on the host), the package of the host's platform.

Internal use only: the interface may change without notice.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.defender.endpoint.plugins.plugin_utils.core import files as _files
from ansible_collections.defender.endpoint.plugins.plugin_utils.core import inputs as _inputs
from ansible_collections.defender.endpoint.plugins.plugin_utils.packages.parse import PackageError, parse_package


def check_arguments(args: dict, raw: dict) -> None:
    """Identifiers, URLs and versions, and options that contradict each other: one sentence, nothing touched."""
    try:
        args["workspace_id"] = _inputs.guid("workspace_id", args["workspace_id"])
        args["remove_mma_workspace"] = _inputs.guid("remove_mma_workspace", args["remove_mma_workspace"])
        args["mdatp_repository_url"] = _inputs.repository_url("mdatp_repository_url", args["mdatp_repository_url"],
                                                              args["allow_insecure_repository"])
        args["mdatp_version"] = _inputs.package_version("mdatp_version", args["mdatp_version"])
        args["proxy"] = _inputs.proxy_url("proxy", args["proxy"])
    except _inputs.InputError as exc:
        raise AnsibleActionFail(str(exc)) from None
    if args["state"] == "present" and args["uninstall"]:
        raise AnsibleActionFail("uninstall applies to state=absent (offboard, then uninstall); with state=present "
                                "it would do nothing: remove it or set state: absent.")
    unused = (["offboarding_package"] if args["state"] == "present" else ["onboarding_package", "remove_mma_workspace"])
    for name in unused:
        if args[name]:
            raise AnsibleActionFail(f"{name} applies to state={'absent' if args['state'] == 'present' else 'present'}"
                                    f"; with state={args['state']} it would not be used: remove it.")
    if "mdatp_repository_url" in raw and not args["mdatp_repository"]:
        raise AnsibleActionFail("mdatp_repository_url is set but mdatp_repository is false (install from the "
                                "host's own repositories): remove one of them.")
    if args["step_timeout"] < 30 or args["health_timeout"] < 0:
        raise AnsibleActionFail("step_timeout must be at least 30 seconds (an MSI install takes minutes) and "
                                "health_timeout cannot be negative.")


def installer(args: dict) -> dict | None:
    path = args.get("installer")
    if not path:
        return None
    if args["installer_remote"]:
        return {"remote_path": path}
    return _files.local_file(path, "installer", "give the installer file itself (md4ws.msi, or MMASetup-AMD64.exe "
                             "for downlevel hosts)", " (set installer_remote: true if the path is on the host)")


def package_for(args: dict, kind: str, platform: str):
    """The package for this host's platform among the ones given (one task can serve Windows and Linux)."""
    paths = args.get(f"{kind}_package") or []
    parsed = []
    for path in paths:
        try:
            info = parse_package(path, expect_kind=kind)
        except PackageError as exc:
            raise AnsibleActionFail(str(exc)) from None
        if info.platform == platform:
            return info
        parsed.append(f"{path} ({info.platform})")
    if parsed:
        raise AnsibleActionFail(f"this host runs {platform} but {kind}_package has no {platform} package: "
                                f"{', '.join(parsed)}; add the {platform} package of the same tenant.")
    return None
