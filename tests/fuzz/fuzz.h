/*
 * fuzz.h - what every libFuzzer target in tests/fuzz/ shares: the entry
 * point's prototype, a NUL-terminated copy of the input (hookd's parsers
 * read C strings), and FUZZ_CHECK, which reports a broken property and
 * aborts so that libFuzzer saves the input. A target checks what the
 * parser promises (round trips, nothing invalid accepted), not only that
 * it does not crash.
 */
#ifndef HK_FUZZ_H
#define HK_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                                  \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: property broken: %s: ", __FILE__,          \
                    __LINE__, #cond);                                          \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* A heap copy of data[0..size) with a NUL after it; the caller frees. */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
