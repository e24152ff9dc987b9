#!/bin/sh
# Run a DPDK test program only as root (EAL needs it); otherwise skip (77).
[ "$(id -u)" -eq 0 ] || { echo "skip: DPDK tests need root"; exit 77; }
exec "$@"
