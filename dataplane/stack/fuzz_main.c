/* dataplane/stack/fuzz_main.c — libFuzzer target for the userspace stack
 * (built only with clang: CC=clang meson setup ... ; ninja fuzz_netstack).
 * EAL runs without hugepages; every input goes to ns_fuzz_one(). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <rte_eal.h>

#include "dataplane/stack/stack_int.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	char *eal[] = { (*argv)[0], "-l", "0", "--no-pci", "--no-huge", "-m", "256",
			"--no-shconf", "--log-level=lib.*:error", NULL };
	if (rte_eal_init(9, eal) < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return ns_fuzz_one(data, size);
}
