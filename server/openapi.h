/*
 * openapi.h - the API's OpenAPI 3.1 document, docs/openapi.json, as the
 * build embeds it (the Makefile turns the file into build/gen/openapi_doc.c,
 * so the binary serves exactly the checked-in document and needs no file at
 * run time). The bytes are the file's, not NUL-terminated.
 */
#ifndef HK_OPENAPI_H
#define HK_OPENAPI_H

#include <stddef.h>

extern const unsigned char hk_openapi_doc[];
extern const size_t hk_openapi_doc_len;

#endif
