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
# The Azure Connected Machine agent (Azure Arc), Defender for Identity's sensor, and the SMBIOS asset tag of Azure VMs.
$ArcAgent = Join-Path -Path $env:ProgramFiles -ChildPath 'AzureConnectedMachineAgent\azcmagent.exe'
$ArcShowTimeout = 30
$ArmCodes = @('AuthorizationFailed', 'MissingSubscriptionRegistration', 'ResourceGroupNotFound', 'InvalidAuthenticationToken')
$AzureAssetTag = '7783-7084-3265-9085-8269-3286-77'
$MdiSensorRoot = 'C:\Program Files\Azure Advanced Threat Protection Sensor'
$AtpKey = 'HKLM:\SOFTWARE\Microsoft\Windows Advanced Threat Protection'
$Mask = '********'

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

Function Invoke-ProcessOutput {
    # Invoke-Process that also returns what the program printed (stdout then stderr); $null when it timed out.
    param([string]$FilePath, [string]$Arguments, [int]$Timeout)
    $info = New-Object -TypeName System.Diagnostics.ProcessStartInfo -ArgumentList $FilePath, $Arguments
    $info.UseShellExecute = $false
    $info.CreateNoWindow = $true
    $info.RedirectStandardOutput = $true
    $info.RedirectStandardError = $true
    $proc = [System.Diagnostics.Process]::Start($info)
    $stdout = $proc.StandardOutput.ReadToEndAsync()
    $stderr = $proc.StandardError.ReadToEndAsync()
    if (-not $proc.WaitForExit($Timeout * 1000)) {
        try { $proc.Kill() } catch { $null = $_ }
        return $null
    }
    return New-Object -TypeName PSObject -Property @{ rc = $proc.ExitCode; output = "$($stdout.Result)`n$($stderr.Result)" }
}

Function Hide-Credential {
    # The user and password of every URL in the text shown as ********.
    param($Text)
    if ($null -eq $Text -or [string]$Text -eq '') { return $Text }
    return [string]$Text -replace '(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@', "`$1$Mask@"
}

Function ConvertTo-Fact {
    # A value of azcmagent's output as a fact: an empty string is $null.
    param($Value, [int]$Length = 0)
    if ($null -eq $Value -or [string]$Value -eq '') { return $null }
    $text = [string]$Value
    if ($Length -gt 0 -and $text.Length -gt $Length) { $text = $text.Substring(0, $Length) }
    return $text
}

Function Read-ArcShow {
    # azcmagent show -j (bounded): the parsed document, or the first line of what it printed when that is no JSON.
    $run = Invoke-ProcessOutput -FilePath $ArcAgent -Arguments 'show -j' -Timeout $ArcShowTimeout
    if ($null -eq $run) { return "azcmagent show -j did not answer within $ArcShowTimeout s" }
    $text = [string]$run.output
    $start = $text.IndexOf('{')
    $end = $text.LastIndexOf('}')
    if ($run.rc -eq 0 -and $start -ge 0 -and $end -gt $start) {
        try { return ($text.Substring($start, $end - $start + 1) | ConvertFrom-Json) }
        catch { $null = $_ }
    }
    $first = @($text -split "`r?`n" | Where-Object { $_.Trim() }) | Select-Object -First 1
    if (-not $first) { return "azcmagent show -j failed with rc $($run.rc)" }
    return ConvertTo-Fact -Value (Hide-Credential -Text $first.Trim()) -Length 300
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

Function Set-ArcOutcome {
    # rc, the first AZCM code, the ARM error code and the last line of azcmagent's output; the token never.
    param($Run, [hashtable]$Record, [string]$Secret)
    $Record.rc = $Run.rc
    $text = [string]$Run.output
    if ($Secret) { $text = $text.Replace($Secret, $Mask) }
    $text = Hide-Credential -Text $text
    if ($text -match 'AZCM\d{4}') { $Record.error_code = $Matches[0] }
    $first = -1
    foreach ($code in $ArmCodes) {
        $at = $text.IndexOf($code, [System.StringComparison]::Ordinal)
        if ($at -ge 0 -and ($first -lt 0 -or $at -lt $first)) { $first = $at; $Record.arm_code = $code }
    }
    $last = @($text -split "`r?`n" | Where-Object { $_.Trim() }) | Select-Object -Last 1
    if ($last) { $Record.detail = ConvertTo-Fact -Value $last.Trim() -Length 300 }
    return ($Run.rc -eq 0)
}

Function Invoke-Azcmagent {
    # azcmagent with the apply's bounded wait; the record gets rc, error_code, arm_code and detail.
    param([string]$Arguments, [hashtable]$Record, [int]$Timeout, [string]$Secret)
    $Record.error_code = $null
    $Record.arm_code = $null
    if (-not (Test-Path -LiteralPath $ArcAgent -PathType Leaf)) {
        $Record.detail = 'azcmagent is not installed on this host: run the install_arc_agent step first.'
        return $false
    }
    $run = Invoke-ProcessOutput -FilePath $ArcAgent -Arguments $Arguments -Timeout $Timeout
    if ($null -eq $run) {
        $Record.timed_out = $true
        $Record.timeout = $Timeout
        $Record.detail = "azcmagent did not finish within $Timeout s"
        return $false
    }
    return Set-ArcOutcome -Run $run -Record $Record -Secret $Secret
}

Function New-PrivateFile {
    # A new empty file that only Administrators and SYSTEM may open, made before any secret is written to it.
    param([string]$Path)
    $null = New-Item -Path $Path -ItemType File
    $acl = New-Object -TypeName System.Security.AccessControl.FileSecurity
    $acl.SetAccessRuleProtection($true, $false)
    foreach ($sid in @('S-1-5-32-544', 'S-1-5-18')) {
        $identity = New-Object -TypeName System.Security.Principal.SecurityIdentifier -ArgumentList $sid
        $acl.AddAccessRule((New-Object -TypeName System.Security.AccessControl.FileSystemAccessRule -ArgumentList $identity, 'FullControl', 'Allow'))
    }
    Set-Acl -LiteralPath $Path -AclObject $acl
}

Function Invoke-AzcmagentWithConfig {
    # azcmagent <verb> --config <file>: the access token is written only to that private file, never to a command
    # line, and the file is deleted whatever happens.
    param([string]$Verb, [System.Collections.IDictionary]$Config, [string]$TokenKey, [hashtable]$Record, [int]$Timeout)
    $token = $null
    if ($TokenKey) { $token = [string]$module.Params.secrets[$TokenKey] }
    if (-not $token) {
        $Record.error_code = $null
        $Record.arm_code = $null
        $key = if ($TokenKey) { $TokenKey } else { 'none' }
        $Record.detail = "no Arc access token was given (secrets key $key): pass the token obtained on the controller."
        return $false
    }
    $path = Join-Path -Path ([System.IO.Path]::GetTempPath()) -ChildPath "defender.endpoint-arc-$([guid]::NewGuid()).json"
    try {
        New-PrivateFile -Path $path
        $Config['access-token'] = $token
        [System.IO.File]::WriteAllText($path, ($Config | ConvertTo-Json -Compress), (New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false))
        return Invoke-Azcmagent -Arguments "$Verb --config `"$path`"" -Record $Record -Timeout $Timeout -Secret $token
    }
    finally { Remove-Item -LiteralPath $path -Force -ErrorAction SilentlyContinue }
}

Function Get-ArcConnectConfig {
    # The connect settings as azcmagent's --config file names them (the token is added by Invoke-AzcmagentWithConfig).
    param($Step)
    $cloud = if ($Step.cloud) { [string]$Step.cloud } else { 'AzureCloud' }
    $config = [ordered]@{
        'subscription-id' = [string]$Step.subscription_id
        'resource-group' = [string]$Step.resource_group
        'location' = [string]$Step.location
        'tenant-id' = [string]$Step.tenant_id
        'cloud' = $cloud
    }
    if ($Step.resource_name) { $config['resource-name'] = [string]$Step.resource_name }
    if ($Step.tags -and $Step.tags.Count) {
        $config['tags'] = (@($Step.tags.Keys | Sort-Object) | ForEach-Object { "$_=$($Step.tags[$_])" }) -join ','
    }
    if ($Step.correlation_id) { $config['correlation-id'] = [string]$Step.correlation_id }
    if ($Step.private_link_scope) { $config['private-link-scope'] = [string]$Step.private_link_scope }
    return $config
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
        'install_arc_agent' {
            # The Azure Connected Machine agent: msiexec /i AzureConnectedMachineAgent.msi /qn (docs/azure-arc.md).
            if (-not (Test-Installer -Step $Step -Record $Record)) { return $false }
            return Invoke-Msiexec -Arguments "/i `"$($Step.path)`" /qn /norestart" -Record $Record -Timeout $timeout
        }
        'arc_set_proxy' {
            # azcmagent config set proxy.url <url>, or config clear proxy.url when none is wanted.
            if ($Step.proxy_url) {
                return Invoke-Azcmagent -Arguments "config set proxy.url `"$($Step.proxy_url)`"" -Record $Record -Timeout $timeout
            }
            return Invoke-Azcmagent -Arguments 'config clear proxy.url' -Record $Record -Timeout $timeout
        }
        'arc_connect' {
            # azcmagent connect --config <file>, the access token only in that file.
            $config = Get-ArcConnectConfig -Step $Step
            return Invoke-AzcmagentWithConfig -Verb 'connect' -Config $config -TokenKey $Step.token -Record $Record -Timeout $timeout
        }
        'arc_disconnect' {
            # azcmagent disconnect --config <file> (deletes the Azure resource), or --force-local-only without Azure.
            if ($Step.force_local_only) {
                return Invoke-Azcmagent -Arguments 'disconnect --force-local-only' -Record $Record -Timeout $timeout
            }
            return Invoke-AzcmagentWithConfig -Verb 'disconnect' -Config ([ordered]@{}) -TokenKey $Step.token -Record $Record -Timeout $timeout
        }
        default { $Record.detail = "unknown step $($Step.name)"; return $false }
    }
}

Function Hide-Secret {
    # The text with every value of the no_log secrets in it replaced by ********.
    param([string]$Text)
    foreach ($value in @($module.Params.secrets.Values)) {
        if ($value -is [string] -and $value.Length -ge 4) { $Text = $Text.Replace($value, $Mask) }
    }
    return $Text
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
                if ($record.detail) { $record.detail = Hide-Secret -Text (Hide-Credential -Text ([string]$record.detail)) }
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

Function Get-ArcFacts {
    # The Azure Connected Machine agent, from azcmagent show -j; values the agent leaves empty are $null.
    $facts = @{
        installed = [bool](Test-Path -LiteralPath $ArcAgent -PathType Leaf)
        agent_version = $null
        status = $null
        resource_name = $null
        resource_group = $null
        subscription_id = $null
        tenant_id = $null
        location = $null
        cloud = $null
        resource_id = $null
        https_proxy = $null
        private_link_scope = $null
        error_code = $null
        error_details = $null
        service = $null
        show_error = $null
    }
    if (-not $facts.installed) { return $facts }
    $facts.service = Get-ServiceFacts -Name 'HIMDS'
    $show = Read-ArcShow
    if ($show -is [string]) { $facts.show_error = $show; return $facts }
    $facts.agent_version = ConvertTo-Fact -Value $show.agentVersion
    $facts.status = ConvertTo-Fact -Value $show.status
    $facts.resource_name = ConvertTo-Fact -Value $show.resourceName
    $facts.resource_group = ConvertTo-Fact -Value $show.resourceGroup
    $facts.subscription_id = ConvertTo-Fact -Value $show.subscriptionId
    $facts.tenant_id = ConvertTo-Fact -Value $show.tenantId
    $facts.location = ConvertTo-Fact -Value $show.location
    $facts.cloud = ConvertTo-Fact -Value $show.cloud
    $facts.resource_id = ConvertTo-Fact -Value $show.resourceId
    $facts.https_proxy = Hide-Credential -Text (ConvertTo-Fact -Value $show.httpsProxy)
    $facts.private_link_scope = ConvertTo-Fact -Value $show.privateLinkScope
    $facts.error_code = ConvertTo-Fact -Value $show.agentErrorCode
    $facts.error_details = ConvertTo-Fact -Value $show.agentErrorDetails -Length 300
    return $facts
}

Function Test-AzureVm {
    # Azure sets this SMBIOS chassis asset tag on its own virtual machines (which are not onboarded to Arc).
    $tags = @(Get-WmiObject -Class Win32_SystemEnclosure -ErrorAction SilentlyContinue | ForEach-Object { [string]$_.SMBIOSAssetTag })
    return [bool]($tags | Where-Object { $_.Trim() -eq $AzureAssetTag })
}

Function Get-MdiSensorVersion {
    # The highest version folder under the Defender for Identity sensor's installation folder, or $null.
    $best = $null
    foreach ($folder in @(Get-ChildItem -LiteralPath $MdiSensorRoot -Directory -ErrorAction SilentlyContinue)) {
        $version = $null
        if ([System.Version]::TryParse($folder.Name, [ref]$version) -and ($null -eq $best -or $version -gt $best)) { $best = $version }
    }
    if ($null -eq $best) { return $null }
    return $best.ToString()
}

Function Get-MdiFacts {
    # Defender for Identity: the v2 sensor's services and version, and the SenseMachineId the v3 sensor relies on.
    return @{
        services = @{
            AATPSensor = Get-ServiceFacts -Name 'AATPSensor'
            AATPSensorUpdater = Get-ServiceFacts -Name 'AATPSensorUpdater'
        }
        sensor_version = Get-MdiSensorVersion
        sense_machine_id = ($null -ne (Get-RegValue -Path $AtpKey -Name 'SenseMachineId'))
    }
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
        arc = Get-ArcFacts
        azure_vm = Test-AzureVm
        mdi = Get-MdiFacts
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
