#!/usr/bin/env bash
# dpdk-rig.sh — the test rig for keyrail's DPDK data plane on a machine with
# no DPDK NIC: a network namespace to run the server (on net_tap) and its
# kernel clients in, and hugepages for EAL.
#
#   tools/dpdk-rig.sh setup NAME [PAGES]   create netns krtest-NAME; reserve
#                                         PAGES free 2 MiB hugepages (256)
#   tools/dpdk-rig.sh teardown NAME        undo what setup NAME did
#   tools/dpdk-rig.sh mem-args NAME        the EAL memory words to use
#
# Everything is idempotent: setup twice is setup once, teardown of a rig
# that is not there is a no-op, teardown after a failed setup removes what
# was made. Only these are touched on the host:
#   - the netns krtest-NAME (and whatever lives in it: taps, veths, its
#     processes, which teardown kills),
#   - /dev/hugepages: mounted (hugetlbfs, pagesize 2M) if it is not a mount
#     yet, unmounted by the last teardown if this script mounted it,
#   - /proc/sys/vm/nr_hugepages: raised only when fewer than PAGES pages are
#     free, put back by the last teardown to the value found, and only if no
#     hugepage is in use by then (someone else's run is never starved).
# State lives in /run/keyrail-dpdk-rig/ (one file per rig plus the saved
# host values). If hugepages cannot be had, setup still succeeds and
# mem-args answers "--no-huge -m 512 --no-shconf" (EAL then runs about 3x
# slower; never with --in-memory, EAL refuses the pair).
#
# Addresses: only 198.18.0.0/15, and only inside the rig's namespace (the
# tests assign them).
set -u
STATE=/run/keyrail-dpdk-rig
HP_NR=/proc/sys/vm/nr_hugepages

die() { echo "dpdk-rig: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, hugepages)"
cmd=${1:-}
name=${2:-}
[ -n "$cmd" ] && [ -n "$name" ] || die "usage: $0 setup|teardown|mem-args NAME [PAGES]"
case "$name" in *[!A-Za-z0-9_-]*) die "NAME may use only letters, digits, - and _";; esac
ns=krtest-$name
# Interface names are 15 bytes at most: keep NAME short.
[ ${#ns} -le 15 ] || die "NAME too long (netns krtest-NAME must fit 15 bytes)"

meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }

# Serialise setup/teardown of all rigs (they share the hugepage settings).
mkdir -p "$STATE"
exec 9>"$STATE/.lock"
flock 9

hugepages_setup() {
	local want=$1
	mkdir -p /dev/hugepages
	if ! mountpoint -q /dev/hugepages; then
		if mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages 2>/dev/null; then
			touch "$STATE/.mounted"
		fi
	fi
	local free total
	free=$(meminfo HugePages_Free)
	total=$(meminfo HugePages_Total)
	if [ "${free:-0}" -lt "$want" ]; then
		[ -f "$STATE/.nr_saved" ] || echo "$total" >"$STATE/.nr_saved"
		echo $((total + want - free)) >"$HP_NR" 2>/dev/null
		free=$(meminfo HugePages_Free)
	fi
	if [ "${free:-0}" -ge "$want" ] && mountpoint -q /dev/hugepages; then
		echo "--in-memory" >"$STATE/$name.mem"
	else
		echo "dpdk-rig: only ${free:-0} free hugepages (wanted $want): EAL will run with --no-huge" >&2
		echo "--no-huge -m 512 --no-shconf" >"$STATE/$name.mem"
	fi
}

hugepages_teardown() {
	rm -f "$STATE/$name.mem"
	# Other rigs still set up: leave the host as it is for them.
	compgen -G "$STATE/*.mem" >/dev/null && return 0
	if [ -f "$STATE/.nr_saved" ]; then
		local total free
		total=$(meminfo HugePages_Total)
		free=$(meminfo HugePages_Free)
		if [ "$total" = "$free" ]; then
			cat "$STATE/.nr_saved" >"$HP_NR" 2>/dev/null
			rm -f "$STATE/.nr_saved"
		fi
	fi
	if [ -f "$STATE/.mounted" ]; then
		umount /dev/hugepages 2>/dev/null && rm -f "$STATE/.mounted"
	fi
}

netns_teardown() {
	ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$ns" || return 0
	local pids
	pids=$(ip netns pids "$ns" 2>/dev/null)
	if [ -n "$pids" ]; then
		kill -TERM $pids 2>/dev/null
		for _ in $(seq 50); do
			pids=$(ip netns pids "$ns" 2>/dev/null)
			[ -z "$pids" ] && break
			sleep 0.1
		done
		[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
		sleep 0.1
	fi
	ip netns del "$ns" 2>/dev/null
}

case "$cmd" in
setup)
	pages=${3:-256}
	case "$pages" in ''|*[!0-9]*) die "PAGES must be a number";; esac
	if ! ip netns list | awk '{print $1}' | grep -qx "$ns"; then
		ip netns add "$ns" || die "cannot create netns $ns"
	fi
	ip -n "$ns" link set lo up || die "cannot bring lo up in $ns"
	hugepages_setup "$pages"
	echo "$ns"
	;;
teardown)
	netns_teardown
	hugepages_teardown
	# Nothing left to undo: no state either.
	if ! compgen -G "$STATE/*.mem" >/dev/null && [ ! -e "$STATE/.nr_saved" ] &&
	   [ ! -e "$STATE/.mounted" ]; then
		rm -rf "$STATE"
	fi
	;;
mem-args)
	[ -f "$STATE/$name.mem" ] || die "rig $name is not set up"
	cat "$STATE/$name.mem"
	;;
*)
	die "unknown command $cmd (setup, teardown, mem-args)"
	;;
esac
