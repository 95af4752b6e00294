#!/bin/sh
# Installs the claude-peers binary for this machine (Linux or macOS, x86_64 or arm64) from a
# GitHub release:
#
#   curl -fsSL https://github.com/claude-peers/claude-peers/releases/latest/download/install.sh | sh
#
# It downloads claude-peers-<target> and SHA256SUMS into a temporary directory, checks the
# checksum, stages the binary beside its destination, checks that it runs, and only then renames
# it into place, so a failure at any step leaves an earlier install untouched and nothing
# half-installed. It never edits shell startup files or Claude Code's settings; it prints what
# to do instead.
#
# Environment:
#   CLAUDE_PEERS_RELEASE_URL  where the assets are (default: the latest GitHub release)
#   CLAUDE_PEERS_INSTALL_DIR  where the binary goes (default: $HOME/.local/bin)
#   CLAUDE_PEERS_TARGET       skip detection and install this target, e.g. aarch64-apple-darwin
#   CLAUDE_PEERS_NO_PROMPT=1  never ask to run "claude-peers install"
set -eu

RELEASE_URL="${CLAUDE_PEERS_RELEASE_URL:-https://github.com/claude-peers/claude-peers/releases/latest/download}"
RELEASE_URL="${RELEASE_URL%/}"
INSTALL_DIR="${CLAUDE_PEERS_INSTALL_DIR:-${HOME:?HOME is not set}/.local/bin}"
BINARY="claude-peers"

tmp_dir=""
staged=""
created_dir=""
cleanup() {
  if [ -n "$staged" ]; then rm -f "$staged"; fi
  if [ -n "$tmp_dir" ]; then rm -rf "$tmp_dir"; fi
  # An install directory this run created stays only if the binary made it in.
  if [ -n "$created_dir" ]; then rmdir "$created_dir" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

fail() {
  printf 'claude-peers installer: error: %s\n' "$1" >&2
  exit 1
}

say() {
  printf '%s\n' "$1"
}

# Sets TARGET to the release target for this machine, or fails on an unsupported one.
detect_target() {
  if [ -n "${CLAUDE_PEERS_TARGET:-}" ]; then
    TARGET="$CLAUDE_PEERS_TARGET"
    case "$TARGET" in
      x86_64-unknown-linux-gnu | aarch64-unknown-linux-gnu | x86_64-apple-darwin | aarch64-apple-darwin) ;;
      *) fail "unsupported CLAUDE_PEERS_TARGET \"$TARGET\" (expected one of x86_64-unknown-linux-gnu, aarch64-unknown-linux-gnu, x86_64-apple-darwin, aarch64-apple-darwin)" ;;
    esac
    return
  fi
  os="$(uname -s)"
  cpu="$(uname -m)"
  case "$os" in
    Linux) os_part="unknown-linux-gnu" ;;
    Darwin) os_part="apple-darwin" ;;
    MINGW* | MSYS* | CYGWIN* | Windows_NT)
      fail "this script installs on Linux and macOS; on Windows run install.ps1 in PowerShell" ;;
    *) fail "unsupported platform \"$os $cpu\": claude-peers ships binaries for Linux and macOS (x86_64, arm64) and Windows (x86_64)" ;;
  esac
  case "$cpu" in
    x86_64 | amd64) cpu_part="x86_64" ;;
    aarch64 | arm64) cpu_part="aarch64" ;;
    *) fail "unsupported platform \"$os $cpu\": claude-peers ships binaries for Linux and macOS (x86_64, arm64) and Windows (x86_64)" ;;
  esac
  # A shell running under Rosetta reports x86_64 on an Apple silicon Mac; install the native build.
  if [ "$os_part" = "apple-darwin" ] && [ "$cpu_part" = "x86_64" ] &&
    [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || true)" = "1" ]; then
    cpu_part="aarch64"
  fi
  TARGET="$cpu_part-$os_part"
}

# download URL FILE: fetches URL into FILE with curl or wget, or fails with one line saying why.
download() {
  if command -v curl >/dev/null 2>&1; then
    why="$(curl --fail --silent --show-error --location --retry 2 --output "$2" "$1" 2>&1)"
  elif command -v wget >/dev/null 2>&1; then
    why="$(wget --no-verbose --output-document="$2" "$1" 2>&1)"
  else
    fail "neither curl nor wget is installed: install one of them and run this again"
  fi || {
    why="$(printf '%s\n' "$why" | tail -n 1)"
    fail "could not download \"$1\"${why:+ ($why)}: check the network, or that the release has this file"
  }
}

# sha256 FILE: prints the lower-case hex SHA-256 of FILE.
sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sum="$(sha256sum "$1")"
  elif command -v shasum >/dev/null 2>&1; then
    sum="$(shasum -a 256 "$1")"
  else
    fail "neither sha256sum nor shasum is installed: cannot verify the download"
  fi
  printf '%s\n' "${sum%% *}" | tr 'ABCDEF' 'abcdef'
}

detect_target
asset="$BINARY-$TARGET"
say "Installing claude-peers for $TARGET into $INSTALL_DIR"

tmp_dir="$(mktemp -d 2>/dev/null || mktemp -d -t claude-peers)" ||
  fail "cannot create a temporary directory (set TMPDIR to a writable directory)"

download "$RELEASE_URL/$asset" "$tmp_dir/$asset"
download "$RELEASE_URL/SHA256SUMS" "$tmp_dir/SHA256SUMS"

# sha256sum lines are "<hex>  <name>", or "<hex> *<name>" when written in binary mode.
expected="$(awk -v name="$asset" '$2 == name || $2 == "*" name { print $1; exit }' "$tmp_dir/SHA256SUMS" |
  tr 'ABCDEF' 'abcdef')"
[ -n "$expected" ] ||
  fail "SHA256SUMS from \"$RELEASE_URL\" has no checksum for \"$asset\": refusing to install an unverified binary"
actual="$(sha256 "$tmp_dir/$asset")"
[ "$actual" = "$expected" ] ||
  fail "checksum mismatch for \"$asset\": expected $expected, got $actual (the download is corrupt or was tampered with; nothing was installed)"

# Stage beside the destination so the final mv is a rename on one file system: the old binary
# stays whole until the new one replaces it in one step. The staged copy is also where the
# binary is first run, since a temporary directory may be mounted noexec.
if [ ! -d "$INSTALL_DIR" ]; then
  mkdir -p "$INSTALL_DIR" || fail "cannot create the install directory \"$INSTALL_DIR\""
  created_dir="$INSTALL_DIR"
fi
staged="$INSTALL_DIR/.$BINARY.install.$$"
cp "$tmp_dir/$asset" "$staged" ||
  fail "cannot write to \"$INSTALL_DIR\" (set CLAUDE_PEERS_INSTALL_DIR to a writable directory)"
chmod +x "$staged"
version="$("$staged" --version 2>&1)" ||
  fail "the downloaded binary does not run on this machine: $(printf '%s\n' "$version" | head -n 1)"
version="$(printf '%s\n' "$version" | head -n 1)"
mv -f "$staged" "$INSTALL_DIR/$BINARY" || fail "cannot replace \"$INSTALL_DIR/$BINARY\""
staged=""
created_dir=""
say "Installed $INSTALL_DIR/$BINARY ($version)"

case ":${PATH:-}:" in
  *":$INSTALL_DIR:"*) on_path=1 ;;
  *)
    on_path=0
    say ""
    say "$INSTALL_DIR is not on your PATH. Add this line to your shell's startup file"
    say "(~/.bashrc, ~/.zshrc or ~/.profile) and open a new terminal:"
    say ""
    say "  export PATH=\"$INSTALL_DIR:\$PATH\""
    ;;
esac

say ""
if [ "${CLAUDE_PEERS_NO_PROMPT:-}" != "1" ] && [ -t 0 ] && [ -t 1 ]; then
  printf 'Register claude-peers with Claude Code now (runs "claude-peers install")? [Y/n] '
  answer=""
  read -r answer || answer="n"
  case "$answer" in
    "" | y | Y | yes | YES | Yes)
      "$INSTALL_DIR/$BINARY" install ||
        fail "\"claude-peers install\" failed; the binary is installed, run \"$INSTALL_DIR/$BINARY install\" again when the problem is fixed"
      exit 0
      ;;
  esac
fi
if [ "$on_path" = 1 ]; then
  say "Next, register it with Claude Code: claude-peers install"
else
  say "Next, register it with Claude Code: $INSTALL_DIR/$BINARY install"
fi
