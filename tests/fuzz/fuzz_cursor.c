/*
 * fuzz_cursor.c - the list cursors clients send back (?cursor=, decoded by
 * hk_cursor_decode). A cursor that decodes names a canonical UUID and is
 * the one spelling hk_cursor_encode gives that id, so a client cannot make
 * two cursors for one position or smuggle anything else into the query;
 * and every id read from 16 input bytes survives encode and decode.
 */
#include "fuzz.h"

#include "common.h"
#include "ids.h"
#include "validate.h"

#include <uuid/uuid.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);
    char id[HK_UUID_STRLEN];
    char enc[128];
    if (hk_cursor_decode(s, id)) {
        FUZZ_CHECK(hk_valid_uuid(id), "cursor %s decodes to %s", s, id);
        hk_cursor_encode(id, enc, sizeof(enc));
        FUZZ_CHECK(strcmp(enc, s) == 0, "cursor %s of %s encodes as %s", s, id,
                   enc);
    }
    free(s);
    if (size >= 16) {
        uuid_t u;
        memcpy(u, data, 16);
        char text[HK_UUID_STRLEN];
        uuid_unparse_lower(u, text);
        FUZZ_CHECK(hk_valid_uuid(text), "%s refused", text);
        hk_cursor_encode(text, enc, sizeof(enc));
        FUZZ_CHECK(enc[0] != '\0' && hk_cursor_decode(enc, id) &&
                       strcmp(id, text) == 0,
                   "%s does not survive its cursor %s", text, enc);
        for (const char *p = enc; *p; p++)
            FUZZ_CHECK((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                           (*p >= '0' && *p <= '9') || *p == '-' || *p == '_',
                       "cursor %s needs escaping in a URL", enc);
    }
    return 0;
}
