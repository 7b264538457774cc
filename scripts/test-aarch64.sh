#!/usr/bin/env bash
# The Rust tests on aarch64 (the NEON path), cross-built and run under QEMU user emulation.
# Needs the aarch64 Rust target, a cross linker and QEMU (no Python: the Rust tests build
# without the python feature); on Debian 12:
#   rustup target add aarch64-unknown-linux-gnu
#   apt-get install gcc-aarch64-linux-gnu qemu-user
# Exits 0 with a note when a tool is missing, so CI can call it anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

target=aarch64-unknown-linux-gnu
missing=()
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(aarch64-linux-gnu-gcc)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-aarch64)
rustup target list --installed 2>/dev/null | grep -qx "$target" || missing+=("rust target $target")
if [ ${#missing[@]} -gt 0 ]; then
  echo "skipping the aarch64 tests: missing ${missing[*]}"
  exit 0
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /"
cargo test --locked --target "$target"
