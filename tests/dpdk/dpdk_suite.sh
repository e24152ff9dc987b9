#!/usr/bin/env bash
# The integration command suite against the DPDK data plane: every
# tests/integration program given runs through its harness against
# keyrail-server --dataplane dpdk on net_tap inside a test network
# namespace, one shard, one test (so one server, one busy-polling thread)
# at a time. dpdk_e2e.sh runs the data-type suites the same way after its
# own checks; this covers the rest, as its own test so each stays short.
#
#   dpdk_suite.sh SERVER RIG ITEST_DIR SUITES
#     SERVER     keyrail-server
#     RIG        tools/dpdk-rig.sh (netns + hugepages, removed afterwards)
#     ITEST_DIR  the build's tests/integration (test_* programs)
#     SUITES     comma-separated program names (test_<name>)
#
# The harness starts a server per test with KR_SERVER_ARGS (a config file
# with the DPDK settings) and connects to KR_HOST (the server's address on
# the tap); KR_DATAPLANE=dpdk lets a test skip what the DPDK data plane does
# not offer, with the reason, which is printed here per program. A
# reference redis-server some programs start runs on the namespace's
# loopback as usual. Skips (77) without root or tools.
set -u
SERVER=${1:?usage: dpdk_suite.sh SERVER RIG ITEST_DIR SUITES}
RIG=${2:?}
ITEST_DIR=${3:?}
SUITES=${4:?}

. "$(dirname "$0")/lib.sh"
dpdk_require redis-cli redis-benchmark awk
dpdk_rig_up s
dpdk_persistent_tap || { bad "persistent tap"; exit 1; }
run_itests "$ITEST_DIR" "$SUITES"
dpdk_summary
