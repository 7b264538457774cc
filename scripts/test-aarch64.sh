#!/usr/bin/env bash
# The Rust tests on aarch64 (the NEON path), cross-built and run under QEMU user emulation.
# Needs the aarch64 Rust target, a cross linker, QEMU and an arm64 libpython3.11 (for pyo3's
# link); on Debian 12:
#   rustup target add aarch64-unknown-linux-gnu
#   dpkg --add-architecture arm64 && apt-get update
#   apt-get install gcc-aarch64-linux-gnu qemu-user libpython3.11-dev:arm64
# Exits 0 with a note when a tool is missing, so CI can call it anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

target=aarch64-unknown-linux-gnu
missing=()
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(aarch64-linux-gnu-gcc)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-aarch64)
[ -e /usr/lib/aarch64-linux-gnu/libpython3.11.so ] || missing+=(libpython3.11-dev:arm64)
rustup target list --installed 2>/dev/null | grep -qx "$target" || missing+=("rust target $target")
if [ ${#missing[@]} -gt 0 ]; then
  echo "skipping the aarch64 tests: missing ${missing[*]}"
  exit 0
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-L/usr/lib/aarch64-linux-gnu"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /"
export PYO3_CROSS_PYTHON_VERSION=3.11
cargo test --locked --target "$target"
