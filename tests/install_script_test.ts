/**
 * The installers, run for real against a release served by a local `Deno.serve`: install.sh
 * with `sh` (on Linux and macOS), install.ps1 with `pwsh` where PowerShell is on PATH. The
 * "binary" they install is a tiny shell script that prints a version.
 *
 * These tests never touch the real HOME or PATH entries: each run gets a temp HOME and install
 * directory, and every server and process is stopped before the test ends.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTempDir } from "./_helpers.ts";

const INSTALL_SH = fileURLToPath(new URL("../install.sh", import.meta.url));
const INSTALL_PS1 = fileURLToPath(new URL("../install.ps1", import.meta.url));
const RUN_TIMEOUT_MS = 30_000;
const FAKE_BINARY = "#!/bin/sh\necho 'claude-peers 9.9.9 (fake)'\n";
const OLD_BINARY = "#!/bin/sh\necho 'claude-peers 0.0.1 (old)'\n";
const UNIX_TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
];
const WINDOWS_ASSET = "claude-peers-x86_64-pc-windows-msvc.exe";

/** Variables Windows programs (pwsh above all) need even with an otherwise cleared environment. */
const WINDOWS_ESSENTIALS = [
  "SystemRoot",
  "SystemDrive",
  "windir",
  "TEMP",
  "TMP",
  "PATHEXT",
  "ComSpec",
  "USERPROFILE",
  "APPDATA",
  "LOCALAPPDATA",
  "ProgramFiles",
  "ProgramData",
  "PSModulePath",
];

const onWindows = Deno.build.os === "windows";
const shIgnored = onWindows ? " [ignored: install.sh is for Linux and macOS]" : "";
const pwsh = findOnPath(onWindows ? "pwsh.exe" : "pwsh");
const pwshIgnored = pwsh ? "" : " [ignored: pwsh (PowerShell 7) is not on PATH]";
/** What install.sh runs when curl and sha256sum are missing, besides shell builtins. */
const FALLBACK_TOOLS = [
  "uname",
  "mktemp",
  "wget",
  "shasum",
  "awk",
  "tr",
  "head",
  "tail",
  "chmod",
  "mkdir",
  "cp",
  "mv",
  "rm",
  "rmdir",
];
const missingTools = onWindows ? [] : ["sh", ...FALLBACK_TOOLS].filter((tool) => !findOnPath(tool));
const fallbackIgnored = missingTools.length > 0 ? `${missingTools.join(", ")} not on PATH` : "";

/** A release served on 127.0.0.1: asset name → contents; anything else answers 404. */
interface Release extends AsyncDisposable {
  url: string;
  requested: string[];
}

/** Serves `assets` until disposed: `await using release = serveRelease(assets)`. */
function serveRelease(assets: Record<string, string>): Release {
  const requested: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const name = decodeURIComponent(new URL(request.url).pathname.replace(/^\/download\//, ""));
    requested.push(name);
    const body = assets[name];
    return body === undefined
      ? new Response("not found\n", { status: 404 })
      : new Response(body, { headers: { "content-type": "application/octet-stream" } });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/download`,
    requested,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** SHA256SUMS (sha256sum format) for the given name → contents. */
async function checksums(assets: Record<string, string>): Promise<string> {
  const lines = [];
  for (const [name, body] of Object.entries(assets)) {
    lines.push(`${await sha256Hex(body)}  ${name}\n`);
  }
  return lines.join("");
}

/** Every unix asset serving `binary`, with a matching SHA256SUMS. */
async function unixRelease(binary: string): Promise<Record<string, string>> {
  const assets = Object.fromEntries(UNIX_TARGETS.map((t) => [`claude-peers-${t}`, binary]));
  return { ...assets, SHA256SUMS: await checksums(assets) };
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs an installer with a cleared environment, stdin closed, killed after RUN_TIMEOUT_MS. */
async function runInstaller(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<RunResult> {
  const keep: Record<string, string> = {};
  for (const name of ["PATH", ...(onWindows ? WINDOWS_ESSENTIALS : [])]) {
    const value = Deno.env.get(name);
    if (value !== undefined) keep[name] = value;
  }
  const output = await new Deno.Command(command, {
    args,
    env: { ...keep, CLAUDE_PEERS_NO_PROMPT: "1", ...env },
    clearEnv: true,
    stdin: "null",
    signal: AbortSignal.timeout(RUN_TIMEOUT_MS),
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** A temp HOME with a not-yet-created install dir inside it, removed on disposal. */
interface TempHome extends AsyncDisposable {
  home: string;
  installDir: string;
}

/** `await using sandbox = await createTempHome()`. */
async function createTempHome(): Promise<TempHome> {
  const temp = await createTempDir("claude-peers-install-test-");
  return {
    home: temp.path,
    installDir: join(temp.path, "bin"),
    [Symbol.asyncDispose]: () => temp[Symbol.asyncDispose](),
  };
}

function runSh(release: Release, home: string, installDir: string, extra = {}) {
  return runInstaller("sh", [INSTALL_SH], {
    HOME: home,
    CLAUDE_PEERS_RELEASE_URL: release.url,
    CLAUDE_PEERS_INSTALL_DIR: installDir,
    ...extra,
  });
}

/** Runs install.ps1 for the Windows target (so it also runs under pwsh on Linux and macOS). */
function runPs1(release: Release, home: string, installDir: string, extra = {}) {
  const policy = onWindows ? ["-ExecutionPolicy", "Bypass"] : [];
  return runInstaller(pwsh ?? "pwsh", [
    "-NoProfile",
    "-NonInteractive",
    ...policy,
    "-File",
    INSTALL_PS1,
  ], {
    HOME: home,
    CLAUDE_PEERS_RELEASE_URL: release.url,
    CLAUDE_PEERS_INSTALL_DIR: installDir,
    CLAUDE_PEERS_TARGET: "x86_64-pc-windows-msvc",
    POWERSHELL_TELEMETRY_OPTOUT: "1",
    POWERSHELL_UPDATECHECK: "Off",
    ...extra,
  });
}

/** The Windows asset serving `binary`, with a matching SHA256SUMS. */
async function windowsRelease(binary: string): Promise<Record<string, string>> {
  const assets = { [WINDOWS_ASSET]: binary };
  return { ...assets, SHA256SUMS: await checksums(assets) };
}

async function listDir(dir: string): Promise<string[] | undefined> {
  try {
    return (await Array.fromAsync(Deno.readDir(dir))).map((entry) => entry.name).sort();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Fails unless `stderr` is exactly one error line containing `fragment`. */
function assertOneLineError(result: RunResult, fragment: string): void {
  assert.notEqual(result.code, 0, `expected failure, stdout: ${result.stdout}`);
  const lines = result.stderr.trimEnd().split(/\r?\n/);
  assert.equal(lines.length, 1, `expected one stderr line, got: ${result.stderr}`);
  assert.match(lines[0] ?? "", /^claude-peers installer: error: /);
  assert.ok(lines[0]?.includes(fragment), `expected "${fragment}" in: ${result.stderr}`);
}

function findOnPath(name: string): string | undefined {
  const separator = onWindows ? ";" : ":";
  for (const dir of (Deno.env.get("PATH") ?? "").split(separator)) {
    if (!dir) continue;
    try {
      if (Deno.statSync(join(dir, name)).isFile) return join(dir, name);
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** A directory whose `uname` pretends to be another system. */
async function unameShim(home: string, os: string, cpu: string): Promise<string> {
  const dir = join(home, "shim");
  await Deno.mkdir(dir);
  const script = `#!/bin/sh\ncase "$1" in -m) echo '${cpu}' ;; *) echo '${os}' ;; esac\n`;
  await Deno.writeTextFile(join(dir, "uname"), script, { mode: 0o755 });
  return dir;
}

Deno.test({
  name: `install.sh installs a verified, runnable binary for this machine${shIgnored}`,
  ignore: onWindows,
  async fn() {
    await using release = serveRelease(await unixRelease(FAKE_BINARY));
    await using sandbox = await createTempHome();
    const { home, installDir } = sandbox;
    const result = await runSh(release, home, installDir);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, "");
    const binary = join(installDir, "claude-peers");
    assert.equal(await Deno.readTextFile(binary), FAKE_BINARY);
    assert.ok(((await Deno.stat(binary)).mode ?? 0) & 0o100, "binary is not executable");
    assert.deepEqual(await listDir(installDir), ["claude-peers"]);
    const run = await new Deno.Command(binary, { args: ["--version"] }).output();
    assert.equal(new TextDecoder().decode(run.stdout), "claude-peers 9.9.9 (fake)\n");
    assert.match(result.stdout, /Installed .*claude-peers \(claude-peers 9\.9\.9 \(fake\)\)/);
    assert.match(result.stdout, /is not on your PATH/);
    assert.ok(result.stdout.includes(`export PATH="${installDir}:$PATH"`), result.stdout);
    assert.match(result.stdout, /claude-peers install/);
  },
});

Deno.test({
  name: `install.sh downloads the target named by CLAUDE_PEERS_TARGET${shIgnored}`,
  ignore: onWindows,
  async fn() {
    await using release = serveRelease(await unixRelease(FAKE_BINARY));
    await using sandbox = await createTempHome();
    const { home, installDir } = sandbox;
    const target = "aarch64-apple-darwin";
    const result = await runSh(release, home, installDir, { CLAUDE_PEERS_TARGET: target });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(release.requested, [`claude-peers-${target}`, "SHA256SUMS"]);
    assert.equal(await Deno.readTextFile(join(installDir, "claude-peers")), FAKE_BINARY);
  },
});

Deno.test({
  name:
    `install.sh replaces an earlier install and sees an install dir already on PATH${shIgnored}`,
  ignore: onWindows,
  async fn() {
    await using release = serveRelease(await unixRelease(FAKE_BINARY));
    await using sandbox = await createTempHome();
    const { home, installDir } = sandbox;
    await Deno.mkdir(installDir);
    await Deno.writeTextFile(join(installDir, "claude-peers"), OLD_BINARY, { mode: 0o755 });
    const result = await runSh(release, home, installDir, {
      PATH: `${Deno.env.get("PATH")}:${installDir}`,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await Deno.readTextFile(join(installDir, "claude-peers")), FAKE_BINARY);
    assert.deepEqual(await listDir(installDir), ["claude-peers"]);
    assert.doesNotMatch(result.stdout, /not on your PATH/);
    assert.match(result.stdout, /Next, register it with Claude Code: claude-peers install\n$/);
  },
});

Deno.test({
  name: `install.sh refuses a checksum mismatch and leaves the installed binary alone${shIgnored}`,
  ignore: onWindows,
  async fn() {
    const assets = await unixRelease(FAKE_BINARY);
    assets.SHA256SUMS = await checksums(
      Object.fromEntries(UNIX_TARGETS.map((t) => [`claude-peers-${t}`, "something else"])),
    );
    await using release = serveRelease(assets);
    await using sandbox = await createTempHome();
    const { home, installDir } = sandbox;
    await Deno.mkdir(installDir);
    await Deno.writeTextFile(join(installDir, "claude-peers"), OLD_BINARY, { mode: 0o755 });
    const result = await runSh(release, home, installDir);
    assertOneLineError(result, "checksum mismatch for");
    assert.equal(await Deno.readTextFile(join(installDir, "claude-peers")), OLD_BINARY);
    assert.deepEqual(await listDir(installDir), ["claude-peers"]);
  },
});

Deno.test({
  name: `install.sh fails clearly when the binary is not in the release${shIgnored}`,
  ignore: onWindows,
  async fn() {
    await using release = serveRelease({ SHA256SUMS: "" });
    await using sandbox = await createTempHome();
    const { home, installDir } = sandbox;
    const result = await runSh(release, home, installDir);
    assertOneLineError(result, `could not download "${release.url}/claude-peers-`);
    assert.equal(await listDir(installDir), undefined);
  },
});

Deno.test({
  name: `install.sh refuses to install a binary SHA256SUMS does not list${shIgnored}`,
  ignore: onWindows,
  async fn() {
    const assets = await unixRelease(FAKE_BINARY);
    assets.SHA256SUMS = await checksums({ "claude-peers-other-target": FAKE_BINARY });
    await using release = serveRelease(assets);
    await using sandbox = await createTempHome();
    const { home, installDir } = sandbox;
    const result = await runSh(release, home, installDir);
    assertOneLineError(result, "has no checksum for");
    assert.equal(await listDir(installDir), undefined);
  },
});

Deno.test({
  name: `install.sh rejects an unsupported platform before downloading anything${shIgnored}`,
  ignore: onWindows,
  async fn() {
    await using release = serveRelease(await unixRelease(FAKE_BINARY));
    await using sandbox = await createTempHome();
    const { home, installDir } = sandbox;
    const shim = await unameShim(home, "SunOS", "i86pc");
    const result = await runSh(release, home, installDir, {
      PATH: `${shim}:${Deno.env.get("PATH")}`,
    });
    assertOneLineError(result, `unsupported platform "SunOS i86pc"`);
    assert.deepEqual(release.requested, []);
    assert.equal(await listDir(installDir), undefined);
  },
});

Deno.test({
  name: `install.sh rejects an unsupported CPU on a supported system${shIgnored}`,
  ignore: onWindows,
  async fn() {
    await using release = serveRelease(await unixRelease(FAKE_BINARY));
    await using sandbox = await createTempHome();
    const { home, installDir } = sandbox;
    const shim = await unameShim(home, "Linux", "riscv64");
    const result = await runSh(release, home, installDir, {
      PATH: `${shim}:${Deno.env.get("PATH")}`,
    });
    assertOneLineError(result, `unsupported platform "Linux riscv64"`);
    assert.deepEqual(release.requested, []);
  },
});

Deno.test({
  name: `install.sh leaves nothing behind when the binary does not run${shIgnored}`,
  ignore: onWindows,
  async fn() {
    const broken = "#!/bin/sh\necho 'cannot execute: wrong architecture' >&2\nexit 126\n";
    await using release = serveRelease(await unixRelease(broken));
    await using sandbox = await createTempHome();
    const { home, installDir } = sandbox;
    const result = await runSh(release, home, installDir);
    assertOneLineError(result, "does not run on this machine: cannot execute");
    assert.equal(await listDir(installDir), undefined);
  },
});

Deno.test({
  name: `install.sh falls back to wget and shasum when curl and sha256sum are missing${shIgnored}${
    fallbackIgnored ? ` [ignored: ${fallbackIgnored}]` : ""
  }`,
  ignore: onWindows || fallbackIgnored !== "",
  async fn() {
    await using release = serveRelease(await unixRelease(FAKE_BINARY));
    await using sandbox = await createTempHome();
    const { home, installDir } = sandbox;
    const bin = join(home, "tools");
    await Deno.mkdir(bin);
    for (const tool of FALLBACK_TOOLS) await Deno.symlink(findOnPath(tool)!, join(bin, tool));
    const result = await runInstaller(findOnPath("sh")!, [INSTALL_SH], {
      HOME: home,
      PATH: bin,
      CLAUDE_PEERS_RELEASE_URL: release.url,
      CLAUDE_PEERS_INSTALL_DIR: installDir,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await Deno.readTextFile(join(installDir, "claude-peers")), FAKE_BINARY);
    assert.deepEqual(await listDir(installDir), ["claude-peers"]);
  },
});

Deno.test({
  name: `install.ps1 installs a verified binary${pwshIgnored}`,
  ignore: !pwsh,
  async fn() {
    await using release = serveRelease(await windowsRelease(FAKE_BINARY));
    await using sandbox = await createTempHome();
    const { home, installDir } = sandbox;
    const result = await runPs1(release, home, installDir);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await Deno.readTextFile(join(installDir, "claude-peers.exe")), FAKE_BINARY);
    assert.deepEqual(await listDir(installDir), ["claude-peers.exe"]);
    assert.match(result.stdout, /Installed /);
    assert.match(result.stdout, /is not on your PATH/);
    assert.match(result.stdout, /claude-peers(\.exe)?"? install/);
  },
});

Deno.test({
  name:
    `install.ps1 refuses a checksum mismatch and leaves the installed binary alone${pwshIgnored}`,
  ignore: !pwsh,
  async fn() {
    const assets = await windowsRelease(FAKE_BINARY);
    assets.SHA256SUMS = await checksums({ [WINDOWS_ASSET]: "something else" });
    await using release = serveRelease(assets);
    await using sandbox = await createTempHome();
    const { home, installDir } = sandbox;
    await Deno.mkdir(installDir);
    await Deno.writeTextFile(join(installDir, "claude-peers.exe"), OLD_BINARY);
    const result = await runPs1(release, home, installDir);
    assertOneLineError(result, "checksum mismatch for");
    assert.equal(await Deno.readTextFile(join(installDir, "claude-peers.exe")), OLD_BINARY);
    assert.deepEqual(await listDir(installDir), ["claude-peers.exe"]);
  },
});

Deno.test({
  name: `install.ps1 fails clearly when the binary is not in the release${pwshIgnored}`,
  ignore: !pwsh,
  async fn() {
    await using release = serveRelease({ SHA256SUMS: "" });
    await using sandbox = await createTempHome();
    const { home, installDir } = sandbox;
    const result = await runPs1(release, home, installDir);
    assertOneLineError(result, `could not download "${release.url}/${WINDOWS_ASSET}"`);
    assert.equal(await listDir(installDir), undefined);
  },
});

Deno.test({
  name: `install.ps1 refuses to install a binary SHA256SUMS does not list${pwshIgnored}`,
  ignore: !pwsh,
  async fn() {
    const assets = await windowsRelease(FAKE_BINARY);
    assets.SHA256SUMS = await checksums({ "claude-peers-other-target.exe": FAKE_BINARY });
    await using release = serveRelease(assets);
    await using sandbox = await createTempHome();
    const { home, installDir } = sandbox;
    const result = await runPs1(release, home, installDir);
    assertOneLineError(result, "has no checksum for");
    assert.equal(await listDir(installDir), undefined);
  },
});

Deno.test({
  name: `install.ps1 rejects an unsupported target before downloading anything${pwshIgnored}`,
  ignore: !pwsh,
  async fn() {
    await using release = serveRelease(await windowsRelease(FAKE_BINARY));
    await using sandbox = await createTempHome();
    const { home, installDir } = sandbox;
    const result = await runPs1(release, home, installDir, {
      CLAUDE_PEERS_TARGET: "aarch64-apple-darwin",
    });
    assertOneLineError(result, `unsupported CLAUDE_PEERS_TARGET "aarch64-apple-darwin"`);
    assert.deepEqual(release.requested, []);
    assert.equal(await listDir(installDir), undefined);
  },
});
