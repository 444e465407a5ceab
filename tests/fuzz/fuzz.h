/*
 * fuzz.h - what every libFuzzer target in tests/fuzz/ shares: the two
 * entry points libFuzzer (or replay.c) calls, and FUZZ_ASSERT, which
 * aborts when a property of the code under test fails, so that libFuzzer
 * keeps the input and the replay in make test dies on it.
 */
#ifndef IG_TESTS_FUZZ_H
#define IG_TESTS_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional: once, before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_ASSERT(cond)                                                      \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

#endif
