<#
.SYNOPSIS
Installs the claude-peers binary on Windows (x86_64) from a GitHub release.

.DESCRIPTION
  irm https://github.com/claude-peers/claude-peers/releases/latest/download/install.ps1 | iex

Downloads claude-peers-x86_64-pc-windows-msvc.exe and SHA256SUMS into a temporary directory,
checks the checksum, stages the binary beside its destination and only then renames it into
place, so a failure at any step leaves an earlier install untouched and nothing half-installed.
It never edits PATH or Claude Code's settings; it prints what to do instead.

Environment:
  CLAUDE_PEERS_RELEASE_URL  where the assets are (default: the latest GitHub release)
  CLAUDE_PEERS_INSTALL_DIR  where the binary goes (default: %LOCALAPPDATA%\claude-peers\bin)
  CLAUDE_PEERS_TARGET       skip detection (only x86_64-pc-windows-msvc is published)
  CLAUDE_PEERS_NO_PROMPT=1  never ask to run "claude-peers install"
#>
Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'
# Windows PowerShell 5.1 draws a progress bar so slowly that it dominates the download time.
$ProgressPreference = 'SilentlyContinue'

$WindowsTarget = 'x86_64-pc-windows-msvc'

function Get-ReleaseTarget {
  if ($env:CLAUDE_PEERS_TARGET) {
    if ($env:CLAUDE_PEERS_TARGET -ne $WindowsTarget) {
      throw "unsupported CLAUDE_PEERS_TARGET `"$($env:CLAUDE_PEERS_TARGET)`" (this script installs $WindowsTarget; on Linux and macOS run install.sh)"
    }
    return $WindowsTarget
  }
  if ([System.Environment]::OSVersion.Platform -ne [System.PlatformID]::Win32NT) {
    throw 'this script installs on Windows; on Linux and macOS run install.sh'
  }
  # A 32-bit PowerShell on 64-bit Windows reports x86 here and the real CPU in PROCESSOR_ARCHITEW6432.
  $cpu = if ($env:PROCESSOR_ARCHITEW6432) { $env:PROCESSOR_ARCHITEW6432 } else { $env:PROCESSOR_ARCHITECTURE }
  if ($cpu -ne 'AMD64') {
    throw "unsupported platform `"Windows $cpu`": claude-peers ships Windows binaries for x86_64 only (on ARM64, set CLAUDE_PEERS_TARGET=$WindowsTarget to try it under emulation)"
  }
  return $WindowsTarget
}

function Save-ReleaseFile([string] $Url, [string] $Path) {
  try {
    Invoke-WebRequest -Uri $Url -OutFile $Path -UseBasicParsing
  } catch {
    throw "could not download `"$Url`" (check the network, or that the release has this file): $($_.Exception.Message)"
  }
}

# The checksum for $Name from a sha256sum-format file ("<hex>  <name>" or "<hex> *<name>").
function Find-Checksum([string] $SumsPath, [string] $Name) {
  foreach ($line in Get-Content -LiteralPath $SumsPath) {
    $fields = $line.Trim() -split '\s+', 2
    if ($fields.Count -eq 2 -and ($fields[1] -eq $Name -or $fields[1] -eq "*$Name")) {
      return $fields[0].ToLowerInvariant()
    }
  }
  return $null
}

function Test-OnPath([string] $Dir) {
  $entries = @($env:Path -split ';') + @([Environment]::GetEnvironmentVariable('Path', 'User') -split ';')
  foreach ($entry in $entries) {
    if ($entry -and $entry.TrimEnd('\', '/') -eq $Dir.TrimEnd('\', '/')) { return $true }
  }
  return $false
}

function Install-ClaudePeers {
  $releaseUrl = if ($env:CLAUDE_PEERS_RELEASE_URL) { $env:CLAUDE_PEERS_RELEASE_URL.TrimEnd('/') } else { 'https://github.com/claude-peers/claude-peers/releases/latest/download' }
  $installDir = if ($env:CLAUDE_PEERS_INSTALL_DIR) {
    $env:CLAUDE_PEERS_INSTALL_DIR
  } elseif ($env:LOCALAPPDATA) {
    Join-Path $env:LOCALAPPDATA 'claude-peers\bin'
  } else {
    throw 'LOCALAPPDATA is not set: set CLAUDE_PEERS_INSTALL_DIR to the directory to install into'
  }
  $target = Get-ReleaseTarget
  $asset = "claude-peers-$target.exe"
  $destination = Join-Path $installDir 'claude-peers.exe'
  Write-Host "Installing claude-peers for $target into $installDir"

  # TLS 1.2 is off by default in Windows PowerShell 5.1 on older systems; GitHub requires it.
  [Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12

  $tmp = Join-Path ([System.IO.Path]::GetTempPath()) ('claude-peers-' + [System.Guid]::NewGuid().ToString('N'))
  New-Item -ItemType Directory -Path $tmp | Out-Null
  $staged = $null
  $createdDir = $null
  try {
    $download = Join-Path $tmp $asset
    $sums = Join-Path $tmp 'SHA256SUMS'
    Save-ReleaseFile "$releaseUrl/$asset" $download
    Save-ReleaseFile "$releaseUrl/SHA256SUMS" $sums
    $expected = Find-Checksum $sums $asset
    if (-not $expected) {
      throw "SHA256SUMS from `"$releaseUrl`" has no checksum for `"$asset`": refusing to install an unverified binary"
    }
    $actual = (Get-FileHash -Algorithm SHA256 -LiteralPath $download).Hash.ToLowerInvariant()
    if ($actual -ne $expected) {
      throw "checksum mismatch for `"$asset`": expected $expected, got $actual (the download is corrupt or was tampered with; nothing was installed)"
    }

    # Stage beside the destination so the final move is a rename on one volume.
    if (-not (Test-Path -LiteralPath $installDir)) {
      New-Item -ItemType Directory -Force -Path $installDir | Out-Null
      $createdDir = $installDir
    }
    $staged = Join-Path $installDir ".claude-peers.install.$PID.exe"
    Copy-Item -LiteralPath $download -Destination $staged
    # Windows refuses to overwrite a running exe (the broker may be one) but lets it be renamed.
    $old = "$destination.old"
    Remove-Item -Force -ErrorAction SilentlyContinue -LiteralPath $old
    if (Test-Path -LiteralPath $destination) { Move-Item -Force -LiteralPath $destination -Destination $old }
    try {
      Move-Item -LiteralPath $staged -Destination $destination
    } catch {
      if (Test-Path -LiteralPath $old) { Move-Item -Force -LiteralPath $old -Destination $destination }
      throw "cannot replace `"$destination`": $($_.Exception.Message)"
    }
    $staged = $null
    $createdDir = $null
    Remove-Item -Force -ErrorAction SilentlyContinue -LiteralPath $old
  } finally {
    if ($staged) { Remove-Item -Force -ErrorAction SilentlyContinue -LiteralPath $staged }
    Remove-Item -Recurse -Force -ErrorAction SilentlyContinue -LiteralPath $tmp
    # An install directory this run created stays only if the binary made it in.
    if ($createdDir -and -not (Get-ChildItem -Force -LiteralPath $createdDir)) {
      Remove-Item -Force -ErrorAction SilentlyContinue -LiteralPath $createdDir
    }
  }

  $version = $null
  if ([System.Environment]::OSVersion.Platform -eq [System.PlatformID]::Win32NT) {
    try { $version = & $destination --version 2>$null | Select-Object -First 1 } catch { $version = $null }
  }
  if ($version) { Write-Host "Installed $destination ($version)" } else { Write-Host "Installed $destination" }

  $onPath = Test-OnPath $installDir
  if (-not $onPath) {
    Write-Host ''
    Write-Host "$installDir is not on your PATH. To add it for your user, run this and open a new terminal:"
    Write-Host ''
    Write-Host "  [Environment]::SetEnvironmentVariable('Path', `"$installDir;`" + [Environment]::GetEnvironmentVariable('Path', 'User'), 'User')"
  }

  Write-Host ''
  $interactive = [Environment]::UserInteractive -and -not [Console]::IsInputRedirected
  if ($env:CLAUDE_PEERS_NO_PROMPT -ne '1' -and $interactive) {
    $answer = Read-Host 'Register claude-peers with Claude Code now (runs "claude-peers install")? [Y/n]'
    if ($answer -eq '' -or $answer -match '^(y|yes)$') {
      & $destination install
      if ($LASTEXITCODE -ne 0) {
        throw "`"claude-peers install`" failed; the binary is installed, run `"$destination install`" again when the problem is fixed"
      }
      return
    }
  }
  if ($onPath) {
    Write-Host 'Next, register it with Claude Code: claude-peers install'
  } else {
    Write-Host "Next, register it with Claude Code: & `"$destination`" install"
  }
}

try {
  Install-ClaudePeers
} catch {
  [Console]::Error.WriteLine("claude-peers installer: error: $($_.Exception.Message)")
  # Run as a file, fail the process; piped into iex, leave the user's PowerShell window open.
  if ($PSCommandPath) { exit 1 }
  $global:LASTEXITCODE = 1
}
