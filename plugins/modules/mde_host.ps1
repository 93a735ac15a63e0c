#!powershell

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

#AnsibleRequires -CSharpUtil Ansible.Basic

# The Windows executor of defender.endpoint: the hands, never the brain.
# operation=probe reads the host's facts in one call and changes nothing.
# operation=apply runs the steps the controller planned, in order, stops at the first failure (or after
# a step that needs a restart when the step says so), deletes the staged files, and reads the facts back.
# Every decision (generation, prerequisites, which steps) is taken on the controller.

$spec = @{
    options = @{
        operation = @{ type = 'str'; required = $true; choices = @('probe', 'apply') }
        av_services = @{ type = 'list'; elements = 'str'; default = @() }
        paths = @{ type = 'list'; elements = 'str'; default = @() }
        steps = @{ type = 'list'; elements = 'dict'; default = @() }
        secrets = @{ type = 'dict'; no_log = $true; default = @{} }
        staged = @{ type = 'list'; elements = 'str'; default = @() }
        timeout = @{ type = 'int'; default = 900 }
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

Function Get-PathFacts {
    # Installers given as already on the host: whether each is a file, and its format by its first bytes
    # (an MSI is an OLE compound document, D0 CF 11 E0; an executable starts with MZ).
    $found = @()
    foreach ($path in $module.Params.paths) {
        $entry = @{ path = $path; exists = [bool](Test-Path -LiteralPath $path -PathType Leaf); format = $null }
        if ($entry.exists) {
            try {
                $stream = [System.IO.File]::OpenRead($path)
                try {
                    $head = New-Object byte[] 8
                    $read = $stream.Read($head, 0, 8)
                } finally { $stream.Dispose() }
                if ($read -ge 8 -and [BitConverter]::ToString($head, 0, 8) -eq 'D0-CF-11-E0-A1-B1-1A-E1') { $entry.format = 'msi' }
                elseif ($read -ge 2 -and $head[0] -eq 0x4D -and $head[1] -eq 0x5A) { $entry.format = 'exe' }
            }
            catch { $entry.format = $null }
        }
        $found += $entry
    }
    return , $found
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
            if ($name -match '^(Microsoft (Defender for (Windows Server|Endpoint)|Monitoring Agent|Security Client)|System Center( 2012)? Endpoint Protection)') {
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

Function Invoke-Process {
    # Run a program and wait at most $Timeout seconds: no step can hang the play.
    param([string]$FilePath, [string]$Arguments, [int]$Timeout)
    $info = New-Object -TypeName System.Diagnostics.ProcessStartInfo -ArgumentList $FilePath, $Arguments
    $info.UseShellExecute = $false
    $info.CreateNoWindow = $true
    $proc = [System.Diagnostics.Process]::Start($info)
    if (-not $proc.WaitForExit($Timeout * 1000)) {
        try { $proc.Kill() } catch { $null = $_ }
        return $null
    }
    return $proc.ExitCode
}

Function Test-Installer {
    # The file must be the one sent (sha256) and signed (Authenticode), as install.ps1 checks (exit 15).
    param($Step, [hashtable]$Record, [switch]$SkipSignature)
    if (-not (Test-Path -LiteralPath $Step.path)) { $Record.detail = "file not found: $($Step.path)"; return $false }
    if ($Step.sha256) {
        $hash = (Get-FileHash -LiteralPath $Step.path -Algorithm SHA256).Hash
        if ($hash -ne $Step.sha256.ToUpper()) { $Record.detail = 'the staged file does not match its sha256'; return $false }
    }
    if ($SkipSignature) { return $true }
    $signature = Get-AuthenticodeSignature -FilePath $Step.path
    if ($signature.Status -ne 'Valid') { $Record.signature = [string]$signature.Status; return $false }
    return $true
}

Function Invoke-Msiexec {
    # msiexec with a verbose log; 1618 (another install running) is retried, 3 attempts 30 s apart.
    param([string]$Arguments, [hashtable]$Record, [int]$Timeout)
    $log = Join-Path -Path ([System.IO.Path]::GetTempPath()) -ChildPath "defender.endpoint-msi-$([guid]::NewGuid()).log"
    for ($attempt = 1; $attempt -le 3; $attempt++) {
        $Record.attempts = $attempt
        $Record.rc = Invoke-Process -FilePath "$env:SystemRoot\System32\msiexec.exe" -Arguments "$Arguments /l*v `"$log`"" -Timeout $Timeout
        if ($Record.rc -ne 1618) { break }
        Start-Sleep -Seconds 30
    }
    if ($null -eq $Record.rc) { $Record.timed_out = $true; $Record.timeout = $Timeout; return $false }
    $Record.reboot_required = ($Record.rc -eq 3010)
    if ($Record.rc -in @(0, 3010)) { return $true }
    if (Test-Path -LiteralPath $log) {
        $lines = Select-String -LiteralPath $log -Pattern 'mpasdesc', 'error \d+', 'Return value 3' | Select-Object -Last 3
        $Record.detail = ($lines | ForEach-Object { $_.Line.Trim() }) -join ' | '
    }
    return $false
}

Function Get-MmaConfig {
    return New-Object -ComObject 'AgentConfigManager.MgmtSvcCfg'
}

Function Invoke-OneStep {
    param($Step, [hashtable]$Record)
    $timeout = $module.Params.timeout
    switch ($Step.name) {
        'set_passive_mode' {
            # R-30 / R-31: HKLM\SOFTWARE\Policies\Microsoft\Windows Advanced Threat Protection\ForceDefenderPassiveMode
            if (-not (Test-Path -LiteralPath $AtpPolicyKey)) { $null = New-Item -Path $AtpPolicyKey -Force }
            $null = New-ItemProperty -LiteralPath $AtpPolicyKey -Name 'ForceDefenderPassiveMode' -Value ([int]$Step.value) -PropertyType DWord -Force
            return $true
        }
        'enable_defender_feature' {
            # R-12: the Windows-Defender feature on Server 2016, before md4ws.msi.
            $feature = Install-WindowsFeature -Name 'Windows-Defender'
            $Record.reboot_required = ([string]$feature.RestartNeeded -eq 'Yes')
            return [bool]$feature.Success
        }
        'install_msi' {
            # R-20: msiexec /i md4ws.msi /quiet [FORCEPASSIVEMODE=1]
            if (-not (Test-Installer -Step $Step -Record $Record)) { return $false }
            return Invoke-Msiexec -Arguments "/i `"$($Step.path)`" /quiet /norestart $($Step.properties)" -Record $Record -Timeout $timeout
        }
        'uninstall_msi' {
            # R-61 / R-62: msiexec /x {ProductCode} /quiet (the product md4ws.msi or the MMA installed)
            return Invoke-Msiexec -Arguments "/x $($Step.product_code) /quiet /norestart" -Record $Record -Timeout $timeout
        }
        'install_mma' {
            # R-23: extract the setup, then install the agent; the workspace is added by add_mma_workspace
            # through the COM object, so the key never appears on a command line.
            if (-not (Test-Installer -Step $Step -Record $Record)) { return $false }
            $dir = Join-Path -Path ([System.IO.Path]::GetTempPath()) -ChildPath "defender.endpoint-mma-$([guid]::NewGuid())"
            $Record.rc = Invoke-Process -FilePath $Step.path -Arguments "/c /t:`"$dir`"" -Timeout $timeout
            if ($Record.rc -eq 0) {
                $Record.rc = Invoke-Process -FilePath (Join-Path $dir 'setup.exe') -Arguments '/qn NOAPM=1 ADD_OPINSIGHTS_WORKSPACE=0 AcceptEndUserLicenseAgreement=1' -Timeout $timeout
            }
            Remove-Item -LiteralPath $dir -Recurse -Force -ErrorAction SilentlyContinue
            if ($null -eq $Record.rc) { $Record.timed_out = $true; $Record.timeout = $timeout; return $false }
            $Record.reboot_required = ($Record.rc -eq 3010)
            return ($Record.rc -in @(0, 3010))
        }
        'add_mma_workspace' {
            # R-23 / R-25: AddCloudWorkspace(id, key[, 1 for US Government]), ReloadConfiguration()
            $cfg = Get-MmaConfig
            $key = $module.Params.secrets[$Step.key]
            if ([int]$Step.cloud_type -eq 1) { $cfg.AddCloudWorkspace($Step.workspace_id, $key, 1) }
            else { $cfg.AddCloudWorkspace($Step.workspace_id, $key) }
            $cfg.ReloadConfiguration()
            return $true
        }
        'remove_mma_workspace' {
            # R-62: RemoveCloudWorkspace(id), ReloadConfiguration()
            $cfg = Get-MmaConfig
            $cfg.RemoveCloudWorkspace($Step.workspace_id)
            $cfg.ReloadConfiguration()
            return $true
        }
        'set_mma_proxy' {
            # The agent's configuration object: SetProxyInfo(url, user, password); older agents lack it.
            $cfg = Get-MmaConfig
            if (-not ($cfg | Get-Member -Name 'SetProxyInfo')) { $Record.detail = 'this agent has no SetProxyInfo'; return $false }
            $cfg.SetProxyInfo([string]$Step.proxy_url, [string]$Step.proxy_username, [string]$module.Params.secrets[$Step.password])
            $cfg.ReloadConfiguration()
            return $true
        }
        'import_certificate' {
            # R-41: Import-Certificate -FilePath .\InterCA.cer -CertStoreLocation Cert:\LocalMachine\Ca
            if (-not (Test-Installer -Step $Step -Record $Record -SkipSignature)) { return $false }
            $null = Import-Certificate -FilePath $Step.path -CertStoreLocation 'Cert:\LocalMachine\Ca'
            return $true
        }
        'set_network_protection' {
            # R-42: the four documented Set-MpPreference settings for 2012 R2 / 2016.
            Set-MpPreference -EnableNetworkProtection Enabled
            Set-MpPreference -AllowNetworkProtectionOnWinServer 1
            Set-MpPreference -AllowNetworkProtectionDownLevel 1
            Set-MpPreference -AllowDatagramProcessingOnWinServer 1
            return $true
        }
        'set_scep_cloud_protection' {
            # R-24: SCEP cloud protection membership Advanced (SpyNetReporting = 2).
            $key = 'HKLM:\SOFTWARE\Policies\Microsoft\Microsoft Antimalware\SpyNet'
            if (-not (Test-Path -LiteralPath $key)) { $null = New-Item -Path $key -Force }
            $null = New-ItemProperty -LiteralPath $key -Name 'SpyNetReporting' -Value 2 -PropertyType DWord -Force
            return $true
        }
        'detection_test' {
            # R-52: the documented command line (without -NoExit, so no hidden shell stays behind).
            $folder = 'C:\test-MDATP-test'
            $null = New-Item -Path $folder -ItemType Directory -Force
            $command = "(New-Object System.Net.WebClient).DownloadFile('http://127.0.0.1/1.exe', 'C:\\test-MDATP-test\\invoice.exe'); Start-Process 'C:\\test-MDATP-test\\invoice.exe'"
            $Record.rc = Invoke-Process -FilePath "$env:SystemRoot\System32\WindowsPowerShell\v1.0\powershell.exe" -Arguments "-ExecutionPolicy Bypass -WindowStyle Hidden -Command `"$command`"" -Timeout 60
            return $true
        }
        'run_script' {
            # R-21 / R-60: the package's own .cmd, non-interactive; its exit code is its error code.
            $path = Join-Path -Path ([System.IO.Path]::GetTempPath()) -ChildPath "defender.endpoint-$([guid]::NewGuid()).cmd"
            try {
                [System.IO.File]::WriteAllText($path, $module.Params.secrets[$Step.script], [System.Text.Encoding]::ASCII)
                $Record.rc = Invoke-Process -FilePath "$env:SystemRoot\System32\cmd.exe" -Arguments "/c `"$path`"" -Timeout $timeout
            }
            finally { Remove-Item -LiteralPath $path -Force -ErrorAction SilentlyContinue }
            if ($null -eq $Record.rc) { $Record.timed_out = $true; $Record.timeout = $timeout; return $false }
            return ($Record.rc -eq 0)
        }
        default { $Record.detail = "unknown step $($Step.name)"; return $false }
    }
}

Function Invoke-Step {
    param([object[]]$Steps)
    $records = @()
    $stop = $false
    try {
        foreach ($step in $Steps) {
            $record = @{ name = $step.name; status = 'skipped'; rc = $null; reboot_required = $false }
            if (-not $stop) {
                try { $ok = Invoke-OneStep -Step $step -Record $record }
                catch { $ok = $false; $record.detail = $_.Exception.Message }
                $record.status = if ($ok) { 'ok' } else { 'failed' }
                $stop = (-not $ok) -or ($record.reboot_required -and $step.stop_if_reboot)
            }
            $records += $record
        }
    }
    finally {
        foreach ($path in $module.Params.staged) { Remove-Item -LiteralPath $path -Force -ErrorAction SilentlyContinue }
    }
    return , $records
}

Function Get-HardeningFacts {
    # R-24 (SCEP cloud protection), R-41 (intermediate CA certificates), R-42 (network protection).
    $facts = @{
        ca_thumbprints = @(Get-ChildItem -Path 'Cert:\LocalMachine\CA' -ErrorAction SilentlyContinue | ForEach-Object { $_.Thumbprint.ToUpper() })
        scep_spynet_reporting = Get-RegValue -Path 'HKLM:\SOFTWARE\Policies\Microsoft\Microsoft Antimalware\SpyNet' -Name 'SpyNetReporting'
        mp_preference = $null
    }
    if (Get-Command -Name Get-MpPreference -ErrorAction SilentlyContinue) {
        $pref = Get-MpPreference -ErrorAction SilentlyContinue
        if ($pref) {
            $facts.mp_preference = @{
                enable_network_protection = [int]$pref.EnableNetworkProtection
                allow_network_protection_on_win_server = [bool]$pref.AllowNetworkProtectionOnWinServer
                allow_network_protection_down_level = [bool]$pref.AllowNetworkProtectionDownLevel
                allow_datagram_processing_on_win_server = [bool]$pref.AllowDatagramProcessingOnWinServer
            }
        }
    }
    return $facts
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
        staging_dir = [System.IO.Path]::GetTempPath()
        hardening = Get-HardeningFacts
        powershell_version = $PSVersionTable.PSVersion.ToString()
        host_paths = Get-PathFacts
    }
}

$module.Result.changed = $false
if ($module.Params.operation -eq 'apply') {
    if ($module.CheckMode) { $module.FailJson('apply is never sent in check mode') }
    $module.Result.steps = Invoke-Step -Steps $module.Params.steps
    $module.Result.changed = [bool](@($module.Result.steps | Where-Object { $_.status -eq 'ok' }).Count)
}
$module.Result.facts = Get-HostFacts
$module.ExitJson()
