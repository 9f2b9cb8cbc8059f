/*
 * Test harness shared by the cmocka suites: a counting allocator that can
 * fail on demand, and helpers to find the shared data folder.
 *
 * Install it with harness_alloc_install(); every zmqpack allocation then
 * goes through it. It records the live byte count, the peak, the largest
 * single request, and fails the Nth allocation when asked to (fault
 * injection: "fail the 3rd allocation from now").
 */
#ifndef ZPK_TEST_HARNESS_H
#define ZPK_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct harness_alloc_stats {
    size_t live_blocks;   /* allocations not yet freed */
    size_t live_bytes;    /* bytes not yet freed */
    size_t peak_bytes;    /* highest live_bytes seen since the last reset */
    size_t largest;       /* largest single request since the last reset */
    size_t calls;         /* malloc+realloc calls since the last reset */
    size_t failed;        /* calls that were made to fail */
} harness_alloc_stats_t;

/* Routes zmqpack's allocator hooks to the counting allocator and resets it. */
void harness_alloc_install(void);
/* Restores libc's allocator. Asserts (cmocka) that nothing is still live. */
void harness_alloc_uninstall(void);
/* Resets counters (peak, largest, calls, failed); keeps live counts. */
void harness_alloc_reset_peaks(void);
/* Fail the allocation that is @p n calls from now (1 = the next); 0 disables. */
void harness_alloc_fail_after(size_t n);
/* Fail every allocation larger than @p bytes (0 disables). */
void harness_alloc_fail_above(size_t bytes);
harness_alloc_stats_t harness_alloc_stats(void);

/*
 * Path of a file in ../shared/data, or NULL when the folder is absent (see
 * harness_require_data() and harness_corpus_or_sample(): a test does not
 * skip silently). Uses $ZPK_SHARED_DATA when set.
 * Returns a static buffer.
 */
const char *harness_data_path(const char *name);

/*
 * For a test program that exists for the shared data: returns the path of
 * @p name in it, or, when it is absent, prints one line saying so and exits
 * with 77, meson's skip code (./dev test counts the skip; with CI=true it
 * fails the run). Call it at the top of main(), before cmocka runs.
 */
const char *harness_require_data(const char *name);

/*
 * Parses hex text ("cc80", "cc 80", "cc-80": spaces and dashes are ignored)
 * into @p out; returns the byte count. Fails the test (cmocka) on a bad
 * digit or more than @p cap bytes.
 */
size_t harness_hex(const char *hex, uint8_t *out, size_t cap);

/* Reads a whole file into memory (malloc'd); NULL on failure. */
uint8_t *harness_read_file(const char *path, size_t *len);

/*
 * For a unit test that walks the corpus where it can: the bytes of
 * ../shared/data/@p name (say "corpus/github.mpack"), or, where the shared
 * data is absent, a document made here of the same kind (MessagePack for
 * .mpack, JSON text for .json: nested maps and arrays, strings of many
 * lengths with escapes and non-ASCII text, integers of every width, floats,
 * booleans, nil), so the test runs everywhere and never skips; the vectors
 * suite, which skips without the data, checks the corpus itself.
 * malloc'd (free() it); *len gets the size. Fails the test on an error.
 */
uint8_t *harness_corpus_or_sample(const char *name, size_t *len);

#endif
