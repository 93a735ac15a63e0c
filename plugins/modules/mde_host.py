#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: mde_host
short_description: Internal Windows executor of the defender.endpoint action plugins
version_added: 0.1.0
description:
  - B(Internal use only.) The defender.endpoint action plugins (M(defender.endpoint.mde_info) and the
    modules built on it) run this PowerShell module on Windows hosts. Do not call it from a playbook;
    its interface may change without notice.
  - O(operation=probe) reads, in one remote execution, every fact the controller needs to decide a
    host's path to Defender for Endpoint, and changes nothing.
  - O(operation=apply) runs the planned O(steps) in order, each one a documented command
    (C(ForceDefenderPassiveMode), C(Install-WindowsFeature Windows-Defender), C(msiexec /i) and C(/x)
    with a verbose log and the 1618 retry, the MMA setup, the MMA COM object, the package's C(.cmd),
    C(azcmagent config), C(connect) and C(disconnect) of the Azure Connected Machine agent),
    stops at the first failure or after a step that needs a restart when the step says so, deletes
    the O(staged) files, and returns each step's record and the facts read back.
  - It takes no decision. Generation, prerequisites and plans are computed on the controller.
  - The Arc access token goes to C(azcmagent) only in a C(--config) file that only Administrators and SYSTEM
    may open and that is deleted when the command ends; it is never on a command line or in a record.
options:
  operation:
    description: What to do.
    type: str
    required: true
    choices: [probe, apply]
  av_services:
    description: Service names of third-party anti-malware products to look for.
    type: list
    elements: str
    default: []
  paths:
    description: With O(operation=probe), installers already on the host to look at (RV(facts.host_paths)).
    type: list
    elements: str
    default: []
  steps:
    description:
      - With O(operation=apply), the steps, each a dict with C(name) (C(set_passive_mode),
        C(enable_defender_feature), C(install_msi), C(uninstall_msi), C(install_mma), C(add_mma_workspace),
        C(remove_mma_workspace), C(set_mma_proxy), C(run_script), C(import_certificate),
        C(set_network_protection), C(set_scep_cloud_protection), C(detection_test), C(install_arc_agent),
        C(arc_set_proxy), C(arc_connect), C(arc_disconnect)) and its arguments. Steps name keys of O(secrets);
        they never hold a secret.
    type: list
    elements: dict
    default: []
  secrets:
    description: The onboarding or offboarding script, the workspace key, the proxy password and the Arc access
      token (C(arc_access_token)), by name.
    type: dict
    default: {}
  staged:
    description: Files the controller copied for this apply; deleted when the steps are done.
    type: list
    elements: str
    default: []
  timeout:
    description: Longest run, in seconds, of any one program a step starts; it is then stopped.
    type: int
    default: 900
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    support: full
    platforms: windows
author:
  - defender.endpoint maintainers (@defender-endpoint)
"""

EXAMPLES = r"""
# Internal module: use defender.endpoint.mde_info instead.
- name: Read the raw facts of a Windows host (what mde_info does for you)
  defender.endpoint.mde_host:
    operation: probe
"""

RETURN = r"""
steps:
  description:
    - With O(operation=apply), one record per step - name, status (ok, failed, skipped), rc, attempts,
      reboot_required, detail, and signature or timed_out when they apply.
    - The C(azcmagent) steps add C(error_code) (the first C(AZCMnnnn) code of its output) and C(arm_code) (an
      Azure error code its output names - C(AuthorizationFailed), C(MissingSubscriptionRegistration),
      C(ResourceGroupNotFound), C(InvalidAuthenticationToken)), both C(null) when none; their detail is the last
      line of the output, the token never in it.
  returned: with operation=apply
  type: list
  elements: dict
  sample: [{"name": "install_msi", "status": "ok", "rc": 0, "attempts": 1, "reboot_required": false}]
facts:
  description:
    - The host's facts, read in one remote execution; the same keys after O(operation=apply), read back.
    - This is the written contract of the Windows facts; the simulated lab and the tests hold to it key for key.
  returned: success
  type: dict
  sample: {"platform": "windows", "os": {"version": "10.0.17763", "build": 17763}}
  contains:
    platform:
      description: Always C(windows).
      returned: always
      type: str
    os:
      description: The operating system, from C(Win32_OperatingSystem) and the C(CurrentVersion) registry key.
      returned: always
      type: dict
      contains:
        name:
          description: The caption, for example C(Microsoft Windows Server 2019 Standard).
          type: str
        version:
          description: The version, for example C(10.0.17763).
          type: str
        build:
          description: The build number.
          type: int
        ubr:
          description: The update build revision; C(null) when the registry has none.
          type: int
        product_type:
          description: 1 for a workstation, 2 for a domain controller, 3 for a server.
          type: int
        service_pack:
          description: The major service pack version, 0 when none.
          type: int
        edition:
          description: The C(EditionID), for example C(ServerStandard); C(null) when absent.
          type: str
        installation_type:
          description: The C(InstallationType) (C(Client), C(Server), C(Server Core)); C(null) when absent.
          type: str
        architecture:
          description: The OS architecture, for example C(64-bit).
          type: str
    hotfixes:
      description: The installed updates (C(Win32_QuickFixEngineering)), upper case, for example C(KB3080149).
      returned: always
      type: list
      elements: str
    dotnet_release:
      description: The .NET Framework 4 C(Release) value; C(null) when .NET 4 is absent.
      returned: always
      type: int
    ucrt_version:
      description: The file version of C(ucrtbase.dll); C(null) when the file is absent.
      returned: always
      type: str
    tdh_version:
      description: The file version of C(Tdh.dll); C(null) when the file is absent.
      returned: always
      type: str
    services:
      description: The services that matter, by name.
      returned: always
      type: dict
      contains:
        Sense: &service
          description: The service's state and start type; C(null) when the service does not exist.
          type: dict
          contains: &service_keys
            state:
              description: Lower case C(Win32_Service) state, for example C(running), C(stopped).
              type: str
            start_type:
              description: Lower case start mode, for example C(auto), C(manual), C(disabled).
              type: str
        WinDefend: *service
        WdNisSvc: *service
        HealthService: *service
    defender:
      description: Defender Antivirus, from the feature, the policy and C(Get-MpComputerStatus).
      returned: always
      type: dict
      contains:
        feature_installed:
          description: The C(Windows-Defender) feature is installed; C(null) where there is no C(Get-WindowsFeature).
          type: bool
        disable_antispyware_policy:
          description: The C(DisableAntiSpyware) policy value is 1.
          type: bool
        am_running_mode:
          description: C(AMRunningMode), for example C(Normal), C(Passive Mode), C(Not running).
          returned: when Get-MpComputerStatus answers
          type: str
        am_product_version:
          description: C(AMProductVersion), the anti-malware platform version.
          returned: when Get-MpComputerStatus answers
          type: str
        am_service_enabled:
          description: C(AMServiceEnabled).
          returned: when Get-MpComputerStatus answers
          type: bool
        antivirus_enabled:
          description: C(AntivirusEnabled).
          returned: when Get-MpComputerStatus answers
          type: bool
        real_time_protection_enabled:
          description: C(RealTimeProtectionEnabled).
          returned: when Get-MpComputerStatus answers
          type: bool
        is_tamper_protected:
          description: C(IsTamperProtected).
          returned: when Get-MpComputerStatus answers
          type: bool
    mde:
      description: Defender for Endpoint's registry values and sensor process.
      returned: always
      type: dict
      contains:
        onboarding_info_org_id:
          description:
            - The org id inside the C(OnboardingInfo) policy value (never the value itself), C(unreadable)
              when it does not parse; C(null) when the value is absent.
          type: str
        offboarding_value_present:
          description: The offboarding policy value is present.
          type: bool
        force_passive_mode:
          description: The C(ForceDefenderPassiveMode) policy value; C(null) when absent.
          type: int
        onboarding_state:
          description: The C(Status\OnboardingState) value (1 onboarded); C(null) when absent.
          type: int
        status_org_id:
          description: The C(Status\OrgId) value; C(null) when absent.
          type: str
        sense_start:
          description: The C(Start) value of the Sense service (2 automatic, 3 manual); C(null) when absent.
          type: int
        telemetry_proxy_server:
          description: The C(TelemetryProxyServer) policy value; C(null) when absent.
          type: str
        mssense_process_running:
          description: A C(MsSenseS) process runs (the down-level sensor).
          type: bool
    products:
      description: Installed products of interest (MDE, MMA, SCEP and the like) from the uninstall keys.
      returned: always
      type: list
      elements: dict
      contains:
        name:
          description: The C(DisplayName).
          type: str
        version:
          description: The C(DisplayVersion); C(null) when absent.
          type: str
        product_code:
          description: The uninstall key's name, the MSI product code for MSI products.
          type: str
    mma:
      description: The Microsoft Monitoring Agent.
      returned: always
      type: dict
      contains:
        installed:
          description: C(MonitoringHost.exe) exists.
          type: bool
        proxy_supported:
          description: The agent's COM object has C(SetProxyInfo); C(null) when the agent is not installed.
          type: bool
        workspaces:
          description: The agent's cloud workspaces.
          type: list
          elements: dict
          contains:
            workspace_id:
              description: The workspace id.
              type: str
            connection_status:
              description: The connection status the agent reports.
              type: str
        com_error:
          description: The error of the agent's COM object.
          returned: when the agent is installed and its COM object fails
          type: str
    third_party_av:
      description: The names of O(av_services) that exist as services on the host.
      returned: always
      type: list
      elements: str
    pending_reboot:
      description: A restart is pending (servicing, Windows Update or pending file renames).
      returned: always
      type: bool
    free_disk_mb:
      description: Free space on the system drive, in MiB.
      returned: always
      type: int
    staging_dir:
      description: The temporary folder where the controller stages files.
      returned: always
      type: str
    hardening:
      description: The settings of R-24 (SCEP cloud protection), R-41 (CA certificates) and R-42 (network protection).
      returned: always
      type: dict
      contains:
        ca_thumbprints:
          description: Thumbprints, upper case, of the certificates in the LocalMachine CA store.
          type: list
          elements: str
        scep_spynet_reporting:
          description: The SCEP C(SpyNetReporting) policy value; C(null) when absent.
          type: int
        mp_preference:
          description: The network protection settings of C(Get-MpPreference); C(null) without that command.
          type: dict
          contains:
            enable_network_protection:
              description: C(EnableNetworkProtection) (0 off, 1 on, 2 audit).
              type: int
            allow_network_protection_on_win_server:
              description: C(AllowNetworkProtectionOnWinServer).
              type: bool
            allow_network_protection_down_level:
              description: C(AllowNetworkProtectionDownLevel).
              type: bool
            allow_datagram_processing_on_win_server:
              description: C(AllowDatagramProcessingOnWinServer).
              type: bool
    powershell_version:
      description: C($PSVersionTable.PSVersion).
      returned: always
      type: str
    host_paths:
      description: One entry for each path of O(paths).
      returned: always
      type: list
      elements: dict
      contains:
        path:
          description: The path as given.
          type: str
        exists:
          description: It is a file on the host.
          type: bool
        format:
          description: Its format by its first bytes - C(msi) (an OLE compound document, as md4ws.msi), C(exe)
            (C(MZ), as C(MMASetup-AMD64.exe)) or C(null).
          type: str
    arc:
      description:
        - The Azure Connected Machine agent (Azure Arc), from C(azcmagent show -j) (bounded to 30 s). Values the
          agent leaves empty are C(null); an agent that never connected is C(Disconnected) with its Azure fields
          C(null).
      returned: always
      type: dict
      contains:
        installed:
          description: C(%ProgramFiles%\AzureConnectedMachineAgent\azcmagent.exe) exists.
          type: bool
        agent_version:
          description: C(agentVersion); C(null) when not installed or not read.
          type: str
        status:
          description: C(status) - C(Connected), C(Disconnected) or C(Expired); C(null) when not installed or not read.
          type: str
        resource_name:
          description: C(resourceName), the machine's name in Azure; C(null) when not connected.
          type: str
        resource_group:
          description: C(resourceGroup); C(null) when not connected.
          type: str
        subscription_id:
          description: C(subscriptionId); C(null) when not connected.
          type: str
        tenant_id:
          description: C(tenantId); C(null) when not connected.
          type: str
        location:
          description: C(location), the Azure region; C(null) when not connected.
          type: str
        cloud:
          description: C(cloud), for example C(AzureCloud); C(null) when not connected.
          type: str
        resource_id:
          description: C(resourceId), the machine's Azure resource id; C(null) when not connected.
          type: str
        https_proxy:
          description: C(httpsProxy), credentials in it shown as C(********); C(null) when none.
          type: str
        private_link_scope:
          description: C(privateLinkScope); C(null) when none.
          type: str
        error_code:
          description: C(agentErrorCode), for example C(AZCM0026); C(null) when none.
          type: str
        error_details:
          description: The first 300 characters of C(agentErrorDetails); C(null) when none.
          type: str
        service:
          description: The C(HIMDS) service's state and start type; C(null) when not installed or absent.
          type: dict
          contains: *service_keys
        show_error:
          description: The first line of C(azcmagent show -j) when it failed or printed no JSON; C(null) otherwise.
          type: str
    azure_vm:
      description: The SMBIOS chassis asset tag (C(Win32_SystemEnclosure.SMBIOSAssetTag)) is the one Azure gives its
        virtual machines; an Azure VM is not onboarded to Arc.
      returned: always
      type: bool
    mdi:
      description: The Defender for Identity sensor.
      returned: always
      type: dict
      contains:
        services:
          description: The sensor's services, by name.
          type: dict
          contains:
            AATPSensor: &mdi_service
              description: The service's state and start type; C(null) when the service does not exist.
              type: dict
              contains: *service_keys
            AATPSensorUpdater: *mdi_service
        sensor_version:
          description: The highest version folder under C(C:\Program Files\Azure Advanced Threat Protection
            Sensor); C(null) when there is none.
          type: str
        sense_machine_id:
          description: The C(SenseMachineId) value is present under
            C(HKLM\SOFTWARE\Microsoft\Windows Advanced Threat Protection) (the v3 sensor needs it).
          type: bool
"""
