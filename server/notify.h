/*
 * notify.h - wakes dispatchers in other processes after an ingest. A NOTIFY
 * inside the ingest transaction would serialise every commit on
 * PostgreSQL's notification queue lock, so ingest only pokes this module,
 * and one thread sends a coalesced NOTIFY on its own connection, at most
 * one per couple of milliseconds, after the commits it stands for, with
 * hk_notify_origin() as its payload, followed by " own" when an endpoint
 * of those ingests has no owner (hk_dispatcher_wake).
 */
#ifndef HK_NOTIFY_H
#define HK_NOTIFY_H

#include "common.h"

struct hk_notifier;

enum hk_result hk_notifier_start(const char *conninfo,
                                 struct hk_notifier **out) HK_MUST_CHECK;
/* The payload of this process's notifications: its own dispatcher, woken
 * directly by the same ingests, passes them over. */
const char *hk_notify_origin(void);
/* Safe from any thread; cheap when a NOTIFY is already due. */
void hk_notifier_poke(struct hk_notifier *n, bool unowned);
/* Whether a notification's payload is one of this process's, and
 * whether it says an endpoint has no owner. */
bool hk_notify_is_mine(const char *payload);
bool hk_notify_unowned(const char *payload);
/* Sends what is still due, stops the thread and frees everything. */
void hk_notifier_stop(struct hk_notifier *n);

#endif
