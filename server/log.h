/*
 * log.h - structured one-line JSON logs to stderr:
 * {"ts":"...","level":"info","msg":"...",...}. Thread-safe.
 */
#ifndef HK_LOG_H
#define HK_LOG_H

#include "common.h"

enum hk_log_level { HK_LOG_DEBUG, HK_LOG_INFO, HK_LOG_WARN, HK_LOG_ERROR };

void hk_log_set_level(enum hk_log_level l);
/* Whether a message of level l would be written: for callers that would
 * format values only to have them dropped. */
bool hk_log_enabled(enum hk_log_level l);
bool hk_log_parse_level(const char *s, enum hk_log_level *out);
/* msg is a fixed text; the variadic part is pairs of (const char *key,
 * const char *value) ended by NULL. Values are JSON-escaped. */
void hk_log(enum hk_log_level l, const char *msg, ...);

#define hk_log_info(...) hk_log(HK_LOG_INFO, __VA_ARGS__, (const char *)NULL)
#define hk_log_warn(...) hk_log(HK_LOG_WARN, __VA_ARGS__, (const char *)NULL)
#define hk_log_error(...) hk_log(HK_LOG_ERROR, __VA_ARGS__, (const char *)NULL)
#define hk_log_debug(...) hk_log(HK_LOG_DEBUG, __VA_ARGS__, (const char *)NULL)

#endif
