#!powershell

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

#AnsibleRequires -CSharpUtil Ansible.Basic

# The Windows executor of defender.endpoint: the hands, never the brain.
# operation=probe reads the host's facts in one call and changes nothing.
# Every decision (generation, prerequisites, steps) is taken on the controller.

$spec = @{
    options = @{
        operation = @{ type = 'str'; required = $true; choices = @('probe') }
        av_services = @{ type = 'list'; elements = 'str'; default = @() }
    }
    supports_check_mode = $true
}

$module = [Ansible.Basic.AnsibleModule]::Create($args, $spec)

$AtpPolicyKey = 'HKLM:\SOFTWARE\Policies\Microsoft\Windows Advanced Threat Protection'
$AtpStatusKey = 'HKLM:\SOFTWARE\Microsoft\Windows Advanced Threat Protection\Status'
$OffboardingValue = '696C1FA1-4030-4FA4-8713-FAF9B2EA7C0A'
$MmaHost = 'C:\Program Files\Microsoft Monitoring Agent\Agent\MonitoringHost.exe'

Function Get-RegValue {
    param([string]$Path, [string]$Name)
    $item = Get-ItemProperty -LiteralPath $Path -Name $Name -ErrorAction SilentlyContinue
    if ($null -eq $item) { return $null }
    return $item.$Name
}

Function Get-FileVersion {
    param([string]$Path)
    if (-not (Test-Path -LiteralPath $Path)) { return $null }
    return (Get-Item -LiteralPath $Path).VersionInfo.FileVersion
}

Function Get-ServiceFacts {
    param([string]$Name)
    $svc = Get-WmiObject -Class Win32_Service -Filter "Name='$Name'" -ErrorAction SilentlyContinue
    if ($null -eq $svc) { return $null }
    return @{ state = $svc.State.ToLower(); start_type = $svc.StartMode.ToLower() }
}

Function Get-OrgIdFromBlob {
    param([string]$Blob)
    if (-not $Blob) { return $null }
    try {
        $outer = $Blob | ConvertFrom-Json
        return ($outer.body | ConvertFrom-Json).orgId
    }
    catch { return 'unreadable' }
}

Function Get-OsFacts {
    $os = Get-WmiObject -Class Win32_OperatingSystem
    $cv = 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
    return @{
        name = $os.Caption
        version = $os.Version
        build = [int]$os.BuildNumber
        ubr = Get-RegValue -Path $cv -Name 'UBR'
        product_type = [int]$os.ProductType
        service_pack = [int]$os.ServicePackMajorVersion
        edition = Get-RegValue -Path $cv -Name 'EditionID'
        installation_type = Get-RegValue -Path $cv -Name 'InstallationType'
        architecture = $os.OSArchitecture
    }
}

Function Get-DefenderFacts {
    $facts = @{
        feature_installed = $null
        disable_antispyware_policy = ((Get-RegValue -Path 'HKLM:\SOFTWARE\Policies\Microsoft\Windows Defender' -Name 'DisableAntiSpyware') -eq 1)
    }
    if (Get-Command -Name Get-WindowsFeature -ErrorAction SilentlyContinue) {
        $feature = Get-WindowsFeature -Name 'Windows-Defender' -ErrorAction SilentlyContinue
        if ($feature) { $facts.feature_installed = [bool]$feature.Installed }
    }
    if (Get-Command -Name Get-MpComputerStatus -ErrorAction SilentlyContinue) {
        $mp = Get-MpComputerStatus -ErrorAction SilentlyContinue
        if ($mp) {
            $facts.am_running_mode = $mp.AMRunningMode
            $facts.am_product_version = $mp.AMProductVersion
            $facts.am_service_enabled = $mp.AMServiceEnabled
            $facts.antivirus_enabled = $mp.AntivirusEnabled
            $facts.real_time_protection_enabled = $mp.RealTimeProtectionEnabled
            $facts.is_tamper_protected = $mp.IsTamperProtected
        }
    }
    return $facts
}

Function Get-MdeFacts {
    $sense = Get-RegValue -Path 'HKLM:\SYSTEM\CurrentControlSet\Services\Sense' -Name 'Start'
    return @{
        onboarding_info_org_id = Get-OrgIdFromBlob -Blob (Get-RegValue -Path $AtpPolicyKey -Name 'OnboardingInfo')
        offboarding_value_present = ($null -ne (Get-RegValue -Path $AtpPolicyKey -Name $OffboardingValue))
        force_passive_mode = Get-RegValue -Path $AtpPolicyKey -Name 'ForceDefenderPassiveMode'
        onboarding_state = Get-RegValue -Path $AtpStatusKey -Name 'OnboardingState'
        status_org_id = Get-RegValue -Path $AtpStatusKey -Name 'OrgId'
        sense_start = $sense
        telemetry_proxy_server = Get-RegValue -Path 'HKLM:\SOFTWARE\Policies\Microsoft\Windows\DataCollection' -Name 'TelemetryProxyServer'
        mssense_process_running = ($null -ne (Get-Process -Name 'MsSenseS' -ErrorAction SilentlyContinue))
    }
}

Function Get-ProductFacts {
    $roots = @(
        'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall',
        'HKLM:\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall'
    )
    $found = @()
    foreach ($root in $roots) {
        foreach ($key in (Get-ChildItem -LiteralPath $root -ErrorAction SilentlyContinue)) {
            $name = $key.GetValue('DisplayName')
            if ($name -match '^Microsoft (Defender for (Windows Server|Endpoint)|Monitoring Agent)') {
                $found += @{ name = $name; version = $key.GetValue('DisplayVersion'); product_code = $key.PSChildName }
            }
        }
    }
    return , $found
}

Function Get-MmaFacts {
    $facts = @{ installed = (Test-Path -LiteralPath $MmaHost); workspaces = @(); proxy_supported = $null }
    if (-not $facts.installed) { return $facts }
    try {
        $cfg = New-Object -ComObject 'AgentConfigManager.MgmtSvcCfg'
        $facts.proxy_supported = [bool]($cfg | Get-Member -Name 'SetProxyInfo')
        foreach ($ws in @($cfg.GetCloudWorkspaces())) {
            $facts.workspaces += @{ workspace_id = $ws.workspaceId; connection_status = $ws.ConnectionStatus }
        }
    }
    catch { $facts.com_error = $_.Exception.Message }
    return $facts
}

Function Test-PendingReboot {
    $keys = @(
        'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending',
        'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired'
    )
    foreach ($key in $keys) { if (Test-Path -LiteralPath $key) { return $true } }
    $renames = Get-RegValue -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager' -Name 'PendingFileRenameOperations'
    return ($null -ne $renames)
}

Function Get-HostFacts {
    $services = @{}
    foreach ($name in @('Sense', 'WinDefend', 'WdNisSvc', 'HealthService')) { $services[$name] = Get-ServiceFacts -Name $name }
    $thirdParty = @()
    foreach ($name in $module.Params.av_services) {
        if (Get-Service -Name $name -ErrorAction SilentlyContinue) { $thirdParty += $name }
    }
    $drive = Get-WmiObject -Class Win32_LogicalDisk -Filter "DeviceID='$env:SystemDrive'"
    return @{
        platform = 'windows'
        os = Get-OsFacts
        hotfixes = @(Get-WmiObject -Class Win32_QuickFixEngineering | ForEach-Object { $_.HotFixID.ToUpper() })
        dotnet_release = Get-RegValue -Path 'HKLM:\SOFTWARE\Microsoft\NET Framework Setup\NDP\v4\Full' -Name 'Release'
        ucrt_version = Get-FileVersion -Path "$env:SystemRoot\System32\ucrtbase.dll"
        tdh_version = Get-FileVersion -Path "$env:SystemRoot\System32\Tdh.dll"
        services = $services
        defender = Get-DefenderFacts
        mde = Get-MdeFacts
        products = Get-ProductFacts
        mma = Get-MmaFacts
        third_party_av = $thirdParty
        pending_reboot = Test-PendingReboot
        free_disk_mb = [int]($drive.FreeSpace / 1MB)
        powershell_version = $PSVersionTable.PSVersion.ToString()
    }
}

$module.Result.facts = Get-HostFacts
$module.ExitJson()
