#!/usr/bin/env bash
# Node-pool benchmark: time from "the pool wants N more nodes" to "N domains
# running" (the operator's node-pool code: nodepools_reconcile with the join
# Secret read from a real fakekube, VMs created 4 at a time through vmctl),
# and back down, for N = 1, 5, 20 on libvirt's test driver and on a real
# libvirtd with QEMU.  Writes bench/out/RESULTS-nodepools.md.  Needs a built tree
# (meson setup build && meson compile -C build) and, for QEMU, root and a
# running libvirtd.
#
#   bench/nodepool-bench.sh [--counts "1 5 20"] [--no-qemu]
set -euo pipefail
cd "$(dirname "$0")/.."

counts="1 5 20"
with_qemu=1
while [ $# -gt 0 ]; do
  case $1 in
    --counts) counts=$2; shift 2 ;;
    --no-qemu) with_qemu=0; shift ;;
    *) echo "usage: $0 [--counts \"1 5 20\"] [--no-qemu]" >&2; exit 2 ;;
  esac
done

[ -f build/operator/libtripdeal_operator_kube.a ] && [ -x build/tests/fakekube/fakekube ] ||
  { echo "build first: meson setup build && meson compile -C build" >&2; exit 1; }
bin=build/bench-nodepools/nodepool-bench
mkdir -p build/bench-nodepools bench/out
# shellcheck disable=SC2046
cc -std=c17 -D_GNU_SOURCE -O2 -Wall -Ioperator -Ivmctl -Ilib/common -Ilib/kube -Ilib/cron \
  bench/nodepool-bench.c -Wl,--start-group build/operator/libtripdeal_operator_kube.a \
  build/operator/libtripdeal_operator_nodepools.a build/operator/libtripdeal_operator_core.a build/lib/kube/libtripdeal_kube.a \
  build/lib/cron/libtripdeal_cron.a build/vmctl/libvmctl.a build/lib/common/libtripdeal_common.a -Wl,--end-group \
  $(pkg-config --cflags --libs libvirt libxml-2.0 yaml-0.1 jansson libcurl openssl libmicrohttpd) \
  -pthread -lm -o "$bin"

qemu_uri=${TRIPDEAL_TEST_QEMU_URI:-qemu:///system}
work=""
pool=""
cleanup() {
  if [ -n "$pool" ]; then
    for d in $(virsh -q -c "$qemu_uri" list --all --name 2>/dev/null | grep '^shop-burst-' || true); do
      if virsh -c "$qemu_uri" metadata "$d" https://tripdeal.io/vmctl/1 2>/dev/null | grep -q "<storage-pool>$pool<"; then
        virsh -q -c "$qemu_uri" destroy "$d" >/dev/null 2>&1 || true
        virsh -q -c "$qemu_uri" undefine "$d" >/dev/null 2>&1 || true
      fi
    done
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
run_case() { # label uri storage-pool count [--base-image PATH]
  local label=$1 uri=$2 spool=$3 n=$4; shift 4
  local out
  out=$("$bin" --fakekube build/tests/fakekube/fakekube --uri "$uri" --storage-pool "$spool" \
          --count "$n" "$@")
  echo "$label N=$n: $out" >&2
  rows+=("$(python3 - "$label" "$out" <<'PY'
import json, sys
label, line = sys.argv[1], sys.argv[2]
r = json.loads(line)
n = r["count"]
print(f"| {label} | {r['domain_type']} | {n} | {r['up_ms']/1000:.3f} | {r['up_ms']/n:.1f} | "
      f"{r['down_ms']/1000:.3f} | {r['running']}/{n} | {r['left']} |")
PY
)")
}

for n in $counts; do
  run_case "test:///default" test:///default default-pool "$n"
done

if [ "$with_qemu" = 1 ]; then
  pool="nodepool-bench-$$"
  work=$(mktemp -d /var/tmp/nodepool-bench-XXXXXX)
  chmod 0755 "$work"
  qemu-img create -q -f qcow2 "$work/base.qcow2" 64M
  virsh -q -c "$qemu_uri" pool-create-as "$pool" dir --target "$work" >/dev/null
  for n in $counts; do
    run_case "$qemu_uri" "$qemu_uri" "$pool" "$n" --base-image "$work/base.qcow2"
  done
fi

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
{
  echo "## Node pools: time from \"the pool wants N more nodes\" to \"N domains running\""
  echo
  echo "Measured $(date -u +%Y-%m-%dT%H:%MZ) by \`bench/nodepool-bench.sh\` on $(nproc) CPUs ($cpu), $mem RAM,"
  echo "$(virsh --version 2>/dev/null | sed 's/^/libvirt /'), $(qemu-system-x86_64 --version 2>/dev/null | head -1)."
  echo
  echo "\"Up\" runs the operator's node-pool code: one \`nodepools_reconcile()\` with the"
  echo "pool's min raised from 0 to N (the join command read from a Secret in a real"
  echo "fakekube, VMs created 4 at a time, one libvirt connection each), until"
  echo "\`vmctl_list()\` reports N VMs running.  \"Down\" is the finalizer's"
  echo "\`nodepools_release_all()\` (power off, undefine, delete both volumes; one after"
  echo "another).  Domains: 1 vCPU, 64 MiB, no OS, no NIC; domain type as vmctl picks it (auto)."
  echo
  echo "| libvirt URI | domain type | N | up (s) | up per VM (ms) | down (s) | running | left after down |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} > bench/out/RESULTS-nodepools.md.new
mv bench/out/RESULTS-nodepools.md.new bench/out/RESULTS-nodepools.md
cat bench/out/RESULTS-nodepools.md
