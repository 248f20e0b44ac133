#!/usr/bin/env bash
# vmctl benchmark: time from "the pool wants N more nodes" to "N domains
# running" for N = 1, 5, 20, on libvirt's test driver and on a real libvirtd
# with QEMU (software emulation, and KVM when the host offers it).  Writes
# bench/out/RESULTS-vmctl.md.  Needs a built tree (meson setup build && meson
# compile -C build) and, for QEMU, root + a running libvirtd
# (scripts/test-services start).
#
#   bench/vmctl-bench.sh [--counts "1 5 20"] [--parallel 4] [--no-qemu]
set -euo pipefail
cd "$(dirname "$0")/.."

counts="1 5 20"
parallel=4
with_qemu=1
while [ $# -gt 0 ]; do
  case $1 in
    --counts) counts=$2; shift 2 ;;
    --parallel) parallel=$2; shift 2 ;;
    --no-qemu) with_qemu=0; shift ;;
    *) echo "usage: $0 [--counts \"1 5 20\"] [--parallel P] [--no-qemu]" >&2; exit 2 ;;
  esac
done

[ -f build/vmctl/libvmctl.a ] || { echo "build first: meson setup build && meson compile -C build" >&2; exit 1; }
bin=build/bench-vmctl/vmctl-bench
mkdir -p build/bench-vmctl bench/out
# shellcheck disable=SC2046
cc -std=c17 -D_GNU_SOURCE -O2 -Wall -Ivmctl -Ilib/common bench/vmctl-bench.c \
  build/vmctl/libvmctl.a build/lib/common/libtripdeal_common.a \
  $(pkg-config --cflags --libs libvirt libxml-2.0 yaml-0.1 jansson) -pthread -o "$bin"

qemu_uri=${TRIPDEAL_TEST_QEMU_URI:-qemu:///system}
work=""
pool=""
cleanup() {
  if [ -n "$pool" ]; then
    virsh -q -c "$qemu_uri" pool-refresh "$pool" >/dev/null 2>&1 || true
    for v in $(virsh -q -c "$qemu_uri" vol-list "$pool" 2>/dev/null | awk '{print $1}'); do
      virsh -q -c "$qemu_uri" vol-delete "$v" --pool "$pool" >/dev/null 2>&1 || true
    done
    virsh -q -c "$qemu_uri" pool-destroy "$pool" >/dev/null 2>&1 || true
  fi
  [ -z "$work" ] || rm -rf "$work"
}
trap cleanup EXIT

rows=()
run_case() { # label domain-type uri storage-pool base-image count parallel [extra...]
  local label=$1 type=$2 uri=$3 spool=$4 base=$5 n=$6 p=$7; shift 7
  local out
  out=$("$bin" --uri "$uri" --storage-pool "$spool" --base-image "$base" --count "$n" \
          --parallel "$p" --domain-type "$type" "$@")
  echo "$label $type N=$n P=$p: $out" >&2
  rows+=("$(python3 - "$label" "$type" "$out" <<'PY'
import json, sys
label, dtype, line = sys.argv[1], sys.argv[2], sys.argv[3]
r = json.loads(line)
n = r["count"]
print(f"| {label} | {dtype} | {n} | {r['parallel']} | {r['up_ms']/1000:.3f} | "
      f"{r['up_ms']/n:.1f} | {r['down_ms']/1000:.3f} | {r['running']}/{n} |")
PY
)")
}

for n in $counts; do
  run_case "test:///default" qemu test:///default default-pool /default-pool/base.qcow2 "$n" 1 \
    --base-format qcow2 --disk-mib 1024
  [ "$n" -eq 1 ] || run_case "test:///default" qemu test:///default default-pool \
    /default-pool/base.qcow2 "$n" "$parallel" --base-format qcow2 --disk-mib 1024
done

kvm_note="not measured"
if [ "$with_qemu" = 1 ] && virsh -q -c "$qemu_uri" version >/dev/null 2>&1; then
  work=$(mktemp -d /var/tmp/vmctl-bench-XXXXXX)
  chmod 755 "$work"
  pool="vmctl-bench-$$"
  qemu-img create -q -f qcow2 "$work/base.qcow2" 64M
  virsh -q -c "$qemu_uri" pool-create-as "$pool" dir --target "$work" >/dev/null
  types="qemu"
  if virsh -c "$qemu_uri" capabilities | grep -q "<domain type='kvm'"; then
    types="qemu kvm"
    kvm_note="measured (the host's /dev/kvm is usable by QEMU)"
  else
    kvm_note="not offered by this host (no usable /dev/kvm)"
  fi
  for type in $types; do
    for n in $counts; do
      run_case "$qemu_uri" "$type" "$qemu_uri" "$pool" "$work/base.qcow2" "$n" 1
      [ "$n" -eq 1 ] || run_case "$qemu_uri" "$type" "$qemu_uri" "$pool" "$work/base.qcow2" "$n" "$parallel"
    done
  done
fi

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
{
  echo "## vmctl: time to N running node VMs"
  echo
  echo "Measured $(date -u +%Y-%m-%dT%H:%MZ) by \`bench/vmctl-bench.sh\` on $(nproc) CPUs ($cpu), $mem RAM,"
  echo "libvirt $(virsh --version 2>/dev/null || echo '?'), $(qemu-system-x86_64 --version 2>/dev/null | head -n1 || echo 'no QEMU')."
  echo
  echo "\"Up\" is from the first \`vmctl_create()\` to \`vmctl_list()\` reporting all N VMs of the"
  echo "pool running (each create: qcow2 overlay volume, cloud-init seed ISO built with"
  echo "genisoimage and uploaded through a virStream, define, start).  P = worker threads, one"
  echo "libvirt connection each (P=1: one after another).  Domains: 1 vCPU, 64 MiB, no OS"
  echo "(the guest sits in the firmware), no NIC.  \"Down\" destroys them all (power off,"
  echo "undefine, delete both volumes), one after another.  KVM: $kvm_note."
  echo
  echo "| libvirt URI | domain type | N | P | up (s) | up per VM (ms) | down (s) | running |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} > bench/out/RESULTS-vmctl.md
cat bench/out/RESULTS-vmctl.md
