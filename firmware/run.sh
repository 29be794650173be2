#!/usr/bin/env bash
# Builds the firmware for both boards, runs each image under QEMU, and checks
# that each board passes its own checks and prints exactly the host's
# `result:` lines (losses and weight checksum, bit for bit), and the same for
# the recurrent workload (src/bin/rnn.rs) and the int8 model. Also reports
# flash, RAM, peak stack, the flash the training adds on the M4F, and
# instruction counts of the sampler and the training step on both boards.
#
# Usage: bash firmware/run.sh      (from anywhere; needs qemu-system-arm)
# Env:   NOISEREG_FW_TIMEOUT  seconds per QEMU run (default 60)
set -euo pipefail
shopt -s inherit_errexit

fw=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$fw")
timeout_s=${NOISEREG_FW_TIMEOUT:-60}
# The firmware workspace always builds into its own target dir, whatever the
# caller set for the host workspace.
fw_target="$fw/target"

step() { printf '\n-- %s --\n' "$*"; }
fail() { printf 'firmware: FAILED: %s\n' "$*" >&2; exit 1; }

command -v qemu-system-arm >/dev/null ||
  fail "qemu-system-arm not found (apt-get install -y --no-install-recommends qemu-system-arm)"
rustup target add thumbv7em-none-eabihf thumbv6m-none-eabi >/dev/null 2>&1 || true
rustup component add llvm-tools >/dev/null 2>&1 || true
host_triple=$(rustc -vV | sed -n 's/^host: //p')
size_tool="$(rustc --print sysroot)/lib/rustlib/$host_triple/bin/llvm-size"
if [ ! -x "$size_tool" ]; then
  size_tool=$(command -v arm-none-eabi-size || true)
fi

# The same crate versions on both sides, or the bits may legitimately differ.
lock_versions() {
  awk '/^name = /{n=$3} /^version = /{if (n ~ /^"(libm|rand_core|rand_xoshiro|wide|heapless)"$/) print n, $3}' "$1" | sort -u
}
if ! diff <(lock_versions "$root/Cargo.lock") <(lock_versions "$fw/Cargo.lock") >/dev/null; then
  diff <(lock_versions "$root/Cargo.lock") <(lock_versions "$fw/Cargo.lock") || true
  fail "core dependency versions differ between Cargo.lock and firmware/Cargo.lock (cargo update --precise in firmware/)"
fi

step "host reference (tests/firmware_host.rs, release)"
host_out=$(cd "$root" && cargo test --release -q -p noisereg-harness --test firmware_host \
  -- --exact workload_report --nocapture 2>&1) || { printf '%s\n' "$host_out"; fail "host workload"; }
host_results=$(grep '^result: ' <<<"$host_out" || true)
[ -n "$host_results" ] || { printf '%s\n' "$host_out"; fail "no result lines from the host"; }
printf '%s\n' "$host_results"

# size_of <elf>: prints "text data bss" (Berkeley format: text includes rodata
# and the vector table; bss includes .uninit).
size_of() {
  if [ -n "$size_tool" ]; then
    "$size_tool" "$1" | awk 'NR==2 {print $1, $2, $3}'
  else
    echo "0 0 0"
  fi
}

# build <target> [cargo args...]: release build, prints the ELF's path.
build() {
  local target=$1
  shift
  (cd "$fw" && CARGO_TARGET_DIR="$fw_target" cargo build --release --locked -q --target "$target" "$@") >&2 ||
    fail "firmware build for $target $*"
  echo "$fw_target/$target/release/noisereg-firmware"
}

# run <elf> <cpu> <machine> <log>: runs the image, log to file and stdout.
run() {
  local rc=0
  timeout "$timeout_s" qemu-system-arm -cpu "$2" -machine "$3" -nographic \
    -semihosting-config enable=on,target=native -kernel "$1" >"$4" 2>&1 || rc=$?
  cat "$4"
  return "$rc"
}

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
summary=()
status=0

step "M4F without training (to measure what the training adds)"
elf=$(build thumbv7em-none-eabihf --no-default-features) || exit 1
read -r base_text base_data _ < <(size_of "$elf")
run "$elf" cortex-m4 mps2-an386 "$logs/base.log" || fail "mps2-an386 without training exited with failure"

for board in "thumbv7em-none-eabihf cortex-m4 mps2-an386" "thumbv6m-none-eabi cortex-m0 microbit"; do
  read -r target cpu machine <<<"$board"
  step "$machine ($cpu, $target)"
  elf=$(build "$target") || exit 1
  log="$logs/$machine.log"
  rc=0
  run "$elf" "$cpu" "$machine" "$log" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "firmware: $machine exited with status $rc (124 = timeout)" >&2
    status=1
  fi
  if ! diff <(printf '%s\n' "$host_results") <(grep '^result: ' "$log" || true) >"$logs/diff"; then
    echo "firmware: $machine's results differ from the host's (< host, > $machine):" >&2
    cat "$logs/diff" >&2
    status=1
  else
    echo "firmware: $machine matches the host bit for bit"
  fi
  read -r text data bss < <(size_of "$elf")
  peak=$(sed -n 's/^measure: stack_peak_bytes=\([0-9]*\).*/\1/p' "$log")
  peak=${peak:-0}
  adds=-
  [ "$machine" = mps2-an386 ] && adds=$((text + data - base_text - base_data))
  summary+=("$(printf '| %-10s | %-9s | %8d | %8d | %9d | %9d | %15s |' \
    "$machine" "$cpu" $((text + data)) $((data + bss)) "$peak" $((data + bss + peak)) "$adds")")
  if [ "$machine" = microbit ] && [ $((data + bss + peak)) -gt $((4 * 1024)) ]; then
    echo "firmware: goal missed: micro:bit RAM incl. stack $((data + bss + peak)) B > 4 KiB" >&2
  fi
  if [ "$adds" != - ] && [ "$adds" -gt $((16 * 1024)) ]; then
    echo "firmware: goal missed: training adds $adds B > 16 KiB of flash on the M4F" >&2
  fi
done

step "host reference of the exported int8 model (tests/export.rs, release)"
int8_out=$(cd "$root" && cargo test --release -q -p noisereg-harness --test export \
  -- --exact firmware_int8_report --nocapture 2>&1) || { printf '%s\n' "$int8_out"; fail "host int8 report"; }
int8_host=$(grep '^result: ' <<<"$int8_out" || true)
[ -n "$int8_host" ] || { printf '%s\n' "$int8_out"; fail "no int8 result line from the host"; }
printf '%s\n' "$int8_host"
for board in "thumbv7em-none-eabihf cortex-m4 mps2-an386" "thumbv6m-none-eabi cortex-m0 microbit"; do
  read -r target cpu machine <<<"$board"
  step "$machine: the exported int8 model (src/bin/int8.rs)"
  (cd "$fw" && CARGO_TARGET_DIR="$fw_target" cargo build --release --locked -q --target "$target" --bin int8) >&2 ||
    fail "int8 firmware build for $target"
  elf="$fw_target/$target/release/int8"
  rc=0
  run "$elf" "$cpu" "$machine" "$logs/int8-$machine.log" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "firmware: int8 on $machine exited with status $rc" >&2
    status=1
  fi
  if [ "$(grep '^result: ' "$logs/int8-$machine.log" || true)" != "$int8_host" ]; then
    echo "firmware: int8 predictions on $machine differ from the host's" >&2
    status=1
  else
    echo "firmware: int8 predictions on $machine match the host bit for bit"
  fi
  read -r text data bss < <(size_of "$elf")
  echo "int8 image on $machine: flash $((text + data)) B, RAM $((data + bss)) B"
done

step "host reference of the recurrent workload (tests/firmware_host.rs, release)"
rnn_out=$(cd "$root" && cargo test --release -q -p noisereg-harness --test firmware_host \
  -- --exact rnn_workload_report --nocapture 2>&1) || { printf '%s\n' "$rnn_out"; fail "host recurrent workload"; }
rnn_host=$(grep '^result: ' <<<"$rnn_out" || true)
[ -n "$rnn_host" ] || { printf '%s\n' "$rnn_out"; fail "no recurrent result lines from the host"; }
printf '%s\n' "$rnn_host"
rnn_summary=()
for board in "thumbv7em-none-eabihf cortex-m4 mps2-an386" "thumbv6m-none-eabi cortex-m0 microbit"; do
  read -r target cpu machine <<<"$board"
  step "$machine: the recurrent workload (src/bin/rnn.rs)"
  (cd "$fw" && CARGO_TARGET_DIR="$fw_target" cargo build --release --locked -q --target "$target" --bin rnn) >&2 ||
    fail "rnn firmware build for $target"
  elf="$fw_target/$target/release/rnn"
  log="$logs/rnn-$machine.log"
  rc=0
  run "$elf" "$cpu" "$machine" "$log" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "firmware: the recurrent workload on $machine exited with status $rc (124 = timeout)" >&2
    status=1
  fi
  if ! diff <(printf '%s\n' "$rnn_host") <(grep '^result: ' "$log" || true) >"$logs/diff"; then
    echo "firmware: recurrent results on $machine differ from the host's (< host, > $machine):" >&2
    cat "$logs/diff" >&2
    status=1
  else
    echo "firmware: the recurrent workload on $machine matches the host bit for bit"
  fi
  read -r text data bss < <(size_of "$elf")
  peak=$(sed -n 's/^measure: stack_peak_bytes=\([0-9]*\).*/\1/p' "$log")
  if [ -z "$peak" ]; then
    echo "firmware: no stack peak printed by the recurrent workload on $machine" >&2
    status=1
    peak=0
  fi
  rnn_summary+=("$(printf '| %-10s | %-9s | %8d | %8d | %9d | %9d |' \
    "$machine" "$cpu" $((text + data)) $((data + bss)) "$peak" $((data + bss + peak)))")
done

# Instruction counts (src/bin/count.rs): QEMU's virtual clock runs one
# nanosecond per instruction (-icount shift=0) and SysTick counts it. The
# figures must be printed; their values are not checked, only the method
# (a loop of known length must count within 1 %).
counts=()
for board in "thumbv7em-none-eabihf cortex-m4 mps2-an386" "thumbv6m-none-eabi cortex-m0 microbit"; do
  read -r target cpu machine <<<"$board"
  step "$machine: instruction counts (src/bin/count.rs, -icount shift=0)"
  (cd "$fw" && CARGO_TARGET_DIR="$fw_target" cargo build --release --locked -q --target "$target" --bin count) >&2 ||
    fail "count firmware build for $target"
  log="$logs/count-$machine.log"
  rc=0
  timeout "$timeout_s" qemu-system-arm -cpu "$cpu" -machine "$machine" -nographic -icount shift=0 \
    -semihosting-config enable=on,target=native -kernel "$fw_target/$target/release/count" >"$log" 2>&1 || rc=$?
  cat "$log"
  if [ "$rc" -ne 0 ]; then
    echo "firmware: counts on $machine exited with status $rc" >&2
    status=1
  fi
  for what in normal_box_muller normal_fill_normal train_plain train_plain_per_sample train_independent_s0 \
    train_independent train_per_batch train_flipout train_local_reparam train_explicit_penalty; do
    if ! grep -Eq "^count: $what +[0-9]+\.[0-9] instructions per" "$log"; then
      echo "firmware: no count for $what on $machine" >&2
      status=1
    fi
  done
  for what in plain per_sequence per_step; do
    if ! grep -Eq "^count: rnn_train_$what +[0-9]+\.[0-9] instructions per sequence" "$log"; then
      echo "firmware: no recurrent count rnn_train_$what on $machine" >&2
      status=1
    fi
  done
  ppm=$(sed -n 's/^count: known_loop .*ratio_ppm=\([0-9]*\)$/\1/p' "$log")
  if [ -z "$ppm" ] || [ "$ppm" -lt 990000 ] || [ "$ppm" -gt 1010000 ]; then
    echo "firmware: the known loop on $machine counts ${ppm:-nothing} ppm of its instructions (method broken)" >&2
    status=1
  fi
  counts+=("$(grep '^count: ' "$log" | sed "s/^count: /$machine: /")")
done

for board in "thumbv7em-none-eabihf cortex-m4 mps2-an386" "thumbv6m-none-eabi cortex-m0 microbit"; do
  read -r target cpu machine <<<"$board"
  for fault in panic hard-fault; do
    step "$machine: a $fault must exit with failure"
    elf=$(build "$target" --features "selftest-$fault") || exit 1
    rc=0
    run "$elf" "$cpu" "$machine" "$logs/$fault.log" || rc=$?
    if [ "$rc" -ne 1 ]; then
      echo "firmware: $machine with a $fault exited with $rc, not 1 (124 = hung until timeout)" >&2
      status=1
    fi
  done
done

step "sizes (release, opt-level s, LTO; bytes)"
[ -n "$size_tool" ] || echo "(no llvm-size or arm-none-eabi-size: sizes are 0)"
echo "| board      | core      | flash B  | RAM B    | stack B   | RAM+stack | training adds B |"
echo "|------------|-----------|----------|----------|-----------|-----------|-----------------|"
printf '%s\n' "${summary[@]}"
echo "flash = text + rodata + data initialisers; RAM = data + bss; stack = peak measured on the device by painting;"
echo "training adds = flash with the training minus flash of the same image built --no-default-features."

step "recurrent image src/bin/rnn.rs (release, opt-level s, LTO; bytes)"
echo "| board      | core      | flash B  | RAM B    | stack B   | RAM+stack |"
echo "|------------|-----------|----------|----------|-----------|-----------|"
printf '%s\n' "${rnn_summary[@]}"

step "instructions (QEMU -icount shift=0, SysTick; per normal, per training sample or sequence of a batch of 8)"
printf '%s\n' "${counts[@]}"

[ "$status" -eq 0 ] || fail "see above"
echo "firmware: both boards pass and match the host"
