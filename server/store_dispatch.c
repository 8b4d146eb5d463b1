/*
 * store_dispatch.c - the dispatcher's SQL: the fair claim, the batched
 * outcome write, endpoint disabling, lease expiry, release on shutdown and
 * attempt pruning. A batch of outcomes travels as parallel arrays through
 * unnest() so that one round trip records hundreds of attempts.
 */
#include "store.h"
#include "deliver.h"
#include "ids.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A claim reads only the endpoints the claiming dispatcher ($5 of the
 * first statement, $6 of the second) owns under a live lease (sql_own
 * below, docs/engine.md "Ownership"); a fifo endpoint's due work is the
 * head of its queue in delivery order (index queue_order), and only when
 * it holds no lease and has no answer waiting to be recorded: one
 * request at a time, in order, and a delivery waiting for its retry
 * holds the ones behind it. For the others:
 * a claim is two statements in one transaction. The first locks the enabled
 * endpoints that have due work without a lease (looked for among their
 * first 301 due rows, this dispatcher's answered ones aside, see below: an
 * endpoint holds at most 200 counted leases, HK_LANE_DEPTH times the
 * largest max_concurrency, and up to 100 more for answered requests waiting
 * to be recorded), skipping those another dispatcher is claiming for at
 * this moment, in turns: one endpoint of every tenant with due work (in
 * random order), then a second of each, and so on, so that a tenant with
 * many busy endpoints cannot crowd another tenant out of a claim that has
 * little room; the claim fills slots in that order.
 * The second, under those locks and with a snapshot taken after them,
 * counts each endpoint's leases (its requests in flight or waiting in a
 * dispatcher's lane), this dispatcher's ($6) and the others', for all the
 * locked endpoints in one pass over the leases (counted endpoint by
 * endpoint, the plan read the whole table once for each: 10 endpoints
 * made 870 of a claim's 1,370 buffer reads), and claims
 * its free slots: max_concurrency minus that count, and no more than its
 * rate_limit in one claim. An endpoint without a rate_limit where no other
 * dispatcher holds a lease gets HK_LANE_DEPTH times max_concurrency
 * instead: this dispatcher starts max_concurrency of them and keeps the
 * rest waiting for its slots. Another dispatcher then counts at least those
 * leases and claims no more than max_concurrency minus all of them, and the
 * first, seeing the other's leases, no longer claims beyond its slots
 * either, so requests in flight never exceed max_concurrency across
 * dispatchers, and two never fill the same endpoint's slots twice. The
 * endpoint's lock is also what keeps two claims off the same rows: a claim
 * takes due deliveries that hold no lease, oldest first, from the queue
 * (migrations/0015_queue.sql), and writes a lease for each; the queue's
 * rows are only read (migrations/0013_leases.sql), and the deliveries'
 * not at all: the queue row carries what a request needs of its delivery.
 * $5 lists the delivery of each request this dispatcher has finished but
 * perhaps not recorded yet: no longer in flight at the receiver, whatever
 * the table says. They are left out of the count by id (one hashed lookup
 * per lease), so a record committing while this claim runs frees each slot
 * once, never twice, and the recorder never waits for a claim. Both
 * statements step over them, by the same kind of lookup, when they look
 * for due deliveries without a lease, and over the deliveries this
 * dispatcher holds leases for and has not finished (the lock query's $4,
 * the claim's $7): they are still pending, at the head
 * of their endpoint's queue, until the recorder writes them (about 90
 * answered ones at a time for one busy endpoint, and up to HK_LANE_DEPTH
 * times its max_concurrency leased), and probing each one's lease cost
 * three buffer reads, more than half of what a small claim read. The
 * leases of the unfinished ones are still counted.
 * Each delivery picked carries its endpoint's settings from the row the
 * claim counted by, so the result needs no second lookup of the endpoint
 * (joined again by tenant, it could be looked up through all of the
 * tenant's endpoints for each delivery). The deliveries come back oldest
 * first, so that the dispatcher starts each endpoint's in queue order,
 * each with its endpoint's place in the locked list and its free slots at
 * the claim, by which the caller learns whether work may be left (see
 * hk_store_claim). */
static const char sql_claim_lock[] =
    "SELECT e.tenant_id, e.id FROM hookd.endpoints e JOIN ("
    "  SELECT c.tenant_id, c.id, random() AS r, row_number() OVER ("
    "   PARTITION BY c.tenant_id ORDER BY random()) AS turn"
    "  FROM hookd.endpoint_owners w JOIN hookd.endpoints c"
    "  ON c.tenant_id = w.tenant_id AND c.id = w.endpoint_id"
    "  WHERE w.owner = $5::uuid AND w.lease_until > now()"
    "  AND c.enabled AND c.deleted_at IS NULL"
    "  AND ($2::uuid[] IS NULL OR NOT (c.id = ANY ($2::uuid[])))"
    "  AND CASE WHEN c.ordering = 'fifo' THEN EXISTS (SELECT 1 FROM ("
    "   SELECT h.tenant_id, h.endpoint_id, h.delivery_id, h.next_attempt_at"
    "   FROM hookd.queue h"
    "   WHERE h.tenant_id = c.tenant_id AND h.endpoint_id = c.id"
    "   ORDER BY h.delivery_id LIMIT 1) q"
    "   WHERE q.next_attempt_at <= now()"
    "   AND q.delivery_id NOT IN (SELECT unnest($3::uuid[]))"
    "   AND NOT EXISTS (SELECT 1 FROM hookd.leases k"
    "    WHERE k.tenant_id = q.tenant_id AND k.endpoint_id = q.endpoint_id"
    "    AND k.delivery_id = q.delivery_id))"
    "  ELSE EXISTS (SELECT 1 FROM (SELECT p.tenant_id, p.endpoint_id,"
    "   p.delivery_id FROM hookd.queue p"
    "   WHERE p.tenant_id = c.tenant_id AND p.endpoint_id = c.id"
    "   AND p.next_attempt_at <= now()"
    "   AND p.delivery_id NOT IN (SELECT unnest($3::uuid[]))"
    "   AND p.delivery_id NOT IN (SELECT unnest($4::uuid[]))"
    "   ORDER BY p.next_attempt_at LIMIT 301) q"
    "   WHERE NOT EXISTS (SELECT 1 FROM hookd.leases k"
    "    WHERE k.tenant_id = q.tenant_id AND k.endpoint_id = q.endpoint_id"
    "    AND k.delivery_id = q.delivery_id OFFSET 0)) END) o"
    " ON e.tenant_id = o.tenant_id AND e.id = o.id"
    " ORDER BY o.turn, o.r LIMIT $1"
    " FOR NO KEY UPDATE OF e SKIP LOCKED";
static const char sql_claim[] =
    "WITH answered AS (SELECT unnest($5::uuid[]) AS id),"
    " mine AS (SELECT unnest($7::uuid[]) AS id),"
    " held AS MATERIALIZED ("
    "  SELECT s.tenant_id, s.endpoint_id,"
    "  count(*) FILTER (WHERE s.owner = $6::uuid) AS mine,"
    "  count(*) FILTER (WHERE s.owner IS DISTINCT FROM $6::uuid) AS others"
    "  FROM hookd.leases s"
    "  WHERE (s.tenant_id, s.endpoint_id) IN"
    "   (SELECT * FROM unnest($3::uuid[], $4::uuid[]))"
    "  AND s.delivery_id NOT IN (SELECT answered.id FROM answered)"
    "  GROUP BY s.tenant_id, s.endpoint_id),"
    " ep AS ("
    "  SELECT e.tenant_id, e.id, l.n, e.url, e.headers, e.secret_enc,"
    "  CASE WHEN e.prev_secret_expires_at > now() THEN e.prev_secret_enc"
    "  END AS prev_secret_enc, e.rate_limit, e.max_concurrency,"
    "  LEAST(CASE WHEN e.ordering = 'fifo' THEN 1"
    "   WHEN e.rate_limit IS NULL"
    "   AND COALESCE(s.others, 0) = 0 THEN " HK_STR(HK_LANE_DEPTH)
    "   * e.max_concurrency ELSE e.max_concurrency END - COALESCE(s.mine, 0)"
    "   - COALESCE(s.others, 0),"
    "   COALESCE(e.rate_limit, 1000000),"
    "   COALESCE(c.cap - COALESCE(s.mine, 0), 1000000)) AS free,"
    "  e.failing_since, e.current_concurrency, e.ordering = 'fifo' AS fifo"
    "  FROM unnest($3::uuid[], $4::uuid[]) WITH ORDINALITY"
    "   AS l(tenant_id, id, n)"
    "  JOIN hookd.endpoints e ON e.tenant_id = l.tenant_id AND e.id = l.id"
    "  LEFT JOIN held s"
    "   ON s.tenant_id = e.tenant_id AND s.endpoint_id = e.id"
    "  LEFT JOIN unnest($8::uuid[], $9::int[]) AS c(id, cap) ON c.id = e.id),"
    " picked AS MATERIALIZED ("
    "  SELECT x.*, ep.url, ep.headers, ep.secret_enc, ep.prev_secret_enc,"
    "  ep.rate_limit, ep.max_concurrency, ep.n, ep.free, ep.failing_since,"
    "  ep.current_concurrency, ep.fifo"
    "  FROM ep CROSS JOIN LATERAL ("
    "   (SELECT d.tenant_id, d.delivery_id AS id, d.event_id, d.endpoint_id,"
    "    d.attempt_count, d.cycle_attempts, d.next_attempt_at"
    "    FROM hookd.queue d"
    "    WHERE NOT ep.fifo"
    "    AND d.tenant_id = ep.tenant_id AND d.endpoint_id = ep.id"
    "    AND d.next_attempt_at <= now()"
    "    AND d.delivery_id NOT IN (SELECT answered.id FROM answered)"
    "    AND d.delivery_id NOT IN (SELECT mine.id FROM mine)"
    "    AND NOT EXISTS (SELECT 1 FROM hookd.leases k"
    "     WHERE k.tenant_id = d.tenant_id AND k.endpoint_id = d.endpoint_id"
    "     AND k.delivery_id = d.delivery_id OFFSET 0)"
    "    ORDER BY d.next_attempt_at LIMIT GREATEST(ep.free, 0))"
    "   UNION ALL"
    "   SELECT h.* FROM (SELECT d.tenant_id, d.delivery_id AS id, d.event_id,"
    "    d.endpoint_id, d.attempt_count, d.cycle_attempts, d.next_attempt_at"
    "    FROM hookd.queue d"
    "    WHERE ep.fifo AND d.tenant_id = ep.tenant_id"
    "    AND d.endpoint_id = ep.id ORDER BY d.delivery_id LIMIT 1) h"
    "   WHERE ep.free > 0 AND h.next_attempt_at <= now()"
    "   AND h.id NOT IN (SELECT answered.id FROM answered)"
    "   AND h.id NOT IN (SELECT mine.id FROM mine)"
    "   AND NOT EXISTS (SELECT 1 FROM hookd.leases k"
    "    WHERE k.tenant_id = h.tenant_id AND k.endpoint_id = h.endpoint_id"
    "    AND k.delivery_id = h.id)) x"
    "  ORDER BY ep.n LIMIT $1),"
    " leased AS ("
    "  INSERT INTO hookd.leases (tenant_id, endpoint_id, delivery_id,"
    "  lease_until, owner)"
    "  SELECT p.tenant_id, p.endpoint_id, p.id,"
    "  now() + $2::bigint * interval '1 millisecond', $6::uuid"
    "  FROM picked p)"
    " SELECT d.tenant_id, d.id, d.event_id, d.endpoint_id,"
    "  d.attempt_count, d.cycle_attempts, COALESCE(d.rate_limit, 0), d.url,"
    "  d.headers::text, encode(d.secret_enc, 'hex'),"
    "  encode(d.prev_secret_enc, 'hex'),"
    "  v.event_type, v.payload, hookd.rfc3339(v.created_at), d.max_concurrency,"
    "  d.n, d.free,"
    "  COALESCE((extract(epoch FROM d.failing_since) * 1000)::bigint, 0),"
    "  COALESCE(d.current_concurrency, 0), d.fifo"
    " FROM picked d"
    " JOIN hookd.events v ON v.tenant_id = d.tenant_id AND v.id = d.event_id"
    " ORDER BY d.next_attempt_at, d.id";

/* The outcomes' leases are deleted: their requests are no longer in
 * flight. A delivery still pending is ours to finish; one whose endpoint
 * went away or was disabled in the meantime is not tried again. An
 * outcome whose delivery is gone (its tenant was deleted while the request
 * was in flight) has nothing to attach to and is dropped. Attempts have
 * no foreign key to their delivery (migrations/0012_attempts_fk.sql):
 * an attempt is written only beside a delivery this statement updated,
 * and so locked, or one it locked for the purpose (a late outcome, whose
 * delivery was finished meanwhile by another attempt after the lease
 * expired), so that a deletion of the tenant waits for this statement and
 * then deletes what it wrote. The leases are found one by one through
 * their key, and each delivery by its primary key; the triggers of
 * migrations/0015_queue.sql then delete the queue rows of the deliveries
 * that ended, and move the due time of those to be tried again. No index
 * of deliveries reads what this statement changes, so each delivery's
 * row is rewritten in its own page (a HOT update) when it has room. The
 * endpoints' state is joined to
 * the outcomes first, in a materialized step, so that the delivery lookup
 * can only take its key from the outcome: joined in the same step, the
 * plan made while the table was new and small (the recorder keeps one
 * plan until the table's statistics change) looked deliveries up by the
 * endpoint's tenant alone and walked all of the tenant's deliveries for
 * each outcome, 300 buffers an outcome after a few hundred deliveries,
 * and more with every delivery until the first ANALYZE. */
static const char sql_record[] =
    "WITH r AS ("
    "  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[],"
    "  $5::bigint[], $6::int[], $7::int[], $8::text[], $9::text[],"
    "  $10::jsonb[], $11::jsonb[], $12::text[], $13::boolean[], $14::text[],"
    "  $15::bigint[], $16::int[], $17::uuid[], $18::text[], $19::text[],"
    "  $20::int[], $21::int[], $22::int[], $23::int[], $24::int[],"
    "  $25::int[], $26::uuid[]) WITH ORDINALITY"
    "  AS r(tenant_id, delivery_id, endpoint_id, number, started_ms,"
    "  duration_ms, status_code, error, url, req_headers, resp_headers,"
    "  resp_body, truncated, new_status, next_ms, cycle, attempt_id,"
    "  stopped_status, remote_ip, dns_us, connect_us, tls_us, ttfb_us,"
    "  total_us, conc, owner, ord)),"
    " re AS MATERIALIZED ("
    "  SELECT r.tenant_id, r.delivery_id, r.endpoint_id, r.owner, r.number,"
    "  r.status_code, r.error, r.next_ms, r.cycle,"
    "  CASE WHEN e.deleted_at IS NULL AND e.enabled THEN r.new_status"
    "   ELSE r.stopped_status END AS status"
    "  FROM r JOIN hookd.endpoints e"
    "  ON e.tenant_id = r.tenant_id AND e.id = r.endpoint_id),"
    " freed AS ("
    "  DELETE FROM hookd.leases k WHERE k.ctid = ANY (ARRAY("
    "   SELECT x.ctid FROM r CROSS JOIN LATERAL ("
    "    SELECT k2.ctid FROM hookd.leases k2"
    "    WHERE k2.tenant_id = r.tenant_id AND k2.endpoint_id = r.endpoint_id"
    "    AND k2.delivery_id = r.delivery_id"
    "    AND k2.owner IS NOT DISTINCT FROM r.owner) x))),"
    " d AS ("
    "  UPDATE hookd.deliveries d SET"
    "  status = r.status,"
    "  attempt_count = GREATEST(d.attempt_count, r.number),"
    "  cycle_attempts = r.cycle,"
    "  next_attempt_at = CASE WHEN r.status = 'pending'"
    "   THEN to_timestamp(r.next_ms / 1000.0) END,"
    "  last_status_code = r.status_code,"
    "  last_error = r.error, updated_at = now(),"
    "  completed_at = CASE WHEN r.status = 'pending' THEN NULL ELSE now() END"
    "  FROM re r"
    "  WHERE d.tenant_id = r.tenant_id AND d.id = r.delivery_id"
    "  AND d.status = 'pending'"
    "  AND NOT EXISTS (SELECT 1 FROM hookd.leases k"
    "   WHERE k.tenant_id = r.tenant_id AND k.endpoint_id = r.endpoint_id"
    "   AND k.delivery_id = r.delivery_id"
    "   AND k.owner IS DISTINCT FROM r.owner)"
    "  RETURNING d.tenant_id, d.id),"
    " late AS ("
    "  SELECT x.tenant_id, x.id FROM r JOIN hookd.deliveries x"
    "  ON x.tenant_id = r.tenant_id AND x.id = r.delivery_id"
    "  WHERE (r.tenant_id, r.delivery_id) NOT IN (SELECT d.tenant_id, d.id"
    "   FROM d)"
    "  FOR KEY SHARE OF x),"
    " a AS ("
    "  INSERT INTO hookd.attempts (tenant_id, id, delivery_id, number,"
    "  started_at, duration_ms, status_code, error, request_url,"
    "  request_headers, response_headers, response_body, response_truncated,"
    "  remote_ip, dns_us, connect_us, tls_us, ttfb_us, total_us)"
    "  SELECT r.tenant_id, r.attempt_id, r.delivery_id, r.number,"
    "  to_timestamp(r.started_ms / 1000.0), r.duration_ms, r.status_code,"
    "  r.error, r.url, r.req_headers, r.resp_headers, r.resp_body,"
    "  r.truncated, NULLIF(r.remote_ip, ''), r.dns_us, r.connect_us,"
    "  r.tls_us, r.ttfb_us, r.total_us FROM r"
    "  WHERE (r.tenant_id, r.delivery_id) IN (SELECT d.tenant_id, d.id FROM d"
    "   UNION ALL SELECT late.tenant_id, late.id FROM late)),"
    " s AS ("
    "  SELECT r.tenant_id, r.endpoint_id,"
    "  bool_or(r.new_status = 'succeeded') AS ok,"
    "  (array_agg(r.conc ORDER BY r.ord DESC)"
    "   FILTER (WHERE r.conc >= 0))[1] AS conc"
    "  FROM r GROUP BY 1, 2)"
    " UPDATE hookd.endpoints e SET"
    " failing_since = CASE WHEN s.ok THEN NULL"
    "  ELSE COALESCE(e.failing_since, now()) END,"
    " current_concurrency = CASE WHEN s.conc IS NULL"
    "  THEN e.current_concurrency ELSE NULLIF(s.conc, 0) END"
    " FROM s"
    " WHERE e.tenant_id = s.tenant_id AND e.id = s.endpoint_id"
    " AND (s.ok = (e.failing_since IS NOT NULL)"
    "  OR (s.conc IS NOT NULL"
    "   AND e.current_concurrency IS DISTINCT FROM NULLIF(s.conc, 0)))";

/* Deliveries ended here without an attempt are logged in hookd.changes
 * for the live updates route (migrations/0017_portal_sessions_changes.sql),
 * as are those of the sweep and of lease expiry below. */
static const char sql_disable[] =
    "WITH dis AS ("
    "  UPDATE hookd.endpoints SET enabled = false, disabled_reason = $3,"
    "  updated_at = now()"
    "  WHERE tenant_id = $1 AND id = $2 AND enabled RETURNING tenant_id, id),"
    " f AS ("
    "  UPDATE hookd.deliveries d SET status = 'failed', completed_at = now(),"
    "  next_attempt_at = NULL, updated_at = now(),"
    "  last_error = COALESCE(d.last_error, 'endpoint disabled')"
    "  FROM dis JOIN hookd.queue q"
    "   ON q.tenant_id = dis.tenant_id AND q.endpoint_id = dis.id"
    "  WHERE d.tenant_id = q.tenant_id AND d.id = q.delivery_id"
    "  AND d.status = 'pending' AND NOT " HK_SQL_LEASED
    "  RETURNING d.tenant_id, d.id)"
    " INSERT INTO hookd.changes (tenant_id, id, delivery_id)"
    " SELECT f.tenant_id, hookd.uuid7(), f.id FROM f";

/* Work a dead dispatcher left leased is due again once its lease is
 * deleted here, at its old place in the queue, unless its endpoint went
 * away meanwhile: deleted, or disabled by hookd (410, failing too long; a
 * reason is then recorded). Those deliveries end failed, as their pending
 * siblings did when it happened; an endpoint disabled by hand keeps them
 * pending until it is enabled again. */
#define GONE "(e.deleted_at IS NOT NULL" \
             " OR (NOT e.enabled AND e.disabled_reason IS NOT NULL))"
/* the deliveries of the leases deleted (x) whose endpoint went away */
#define FAIL_GONE                                                          \
    "  UPDATE hookd.deliveries d SET status = 'failed',"                   \
    "  next_attempt_at = NULL, completed_at = now(),"                      \
    "  last_error = COALESCE(d.last_error, CASE WHEN e.deleted_at IS NOT"  \
    "   NULL THEN 'endpoint deleted' ELSE 'endpoint disabled' END),"       \
    "  updated_at = now()"                                                 \
    "  FROM x, hookd.endpoints e"                                          \
    "  WHERE d.tenant_id = x.tenant_id AND d.id = x.delivery_id"           \
    "  AND d.status = 'pending'"                                           \
    "  AND e.tenant_id = d.tenant_id AND e.id = d.endpoint_id AND " GONE    \
    "  RETURNING d.tenant_id, d.id"
/* ...and the log of those (f) for the live updates route */
#define LOG_FAILED                                                         \
    "  INSERT INTO hookd.changes (tenant_id, id, delivery_id)"             \
    "  SELECT f.tenant_id, hookd.uuid7(), f.id FROM f"
static const char sql_expire[] =
    "WITH x AS ("
    "  DELETE FROM hookd.leases k WHERE k.lease_until < now()"
    "  RETURNING k.tenant_id, k.delivery_id),"
    " f AS (" FAIL_GONE "),"
    " g AS (" LOG_FAILED ")"
    " SELECT count(*) FROM x";

/* Deliveries this dispatcher leased and never started (it is stopping,
 * or their endpoint was disabled or deleted while they waited) are due
 * again at their old place in the queue, or end failed as at expiry. */
static const char sql_release[] =
    "WITH x AS ("
    "  DELETE FROM hookd.leases k"
    "  USING unnest($1::uuid[], $2::uuid[]) AS r(tenant_id, id)"
    "  WHERE k.tenant_id = r.tenant_id AND k.delivery_id = r.id"
    "  RETURNING k.tenant_id, k.delivery_id),"
    " f AS (" FAIL_GONE ")" LOG_FAILED;
#undef LOG_FAILED
#undef FAIL_GONE
#undef GONE

static const char sql_stopped[] =
    "SELECT l.id FROM unnest($1::uuid[], $2::uuid[]) AS l(tenant_id, id)"
    " WHERE NOT EXISTS (SELECT 1 FROM hookd.endpoints e"
    "  WHERE e.tenant_id = l.tenant_id AND e.id = l.id"
    "  AND e.enabled AND e.deleted_at IS NULL)"
    " OR NOT EXISTS (SELECT 1 FROM hookd.endpoint_owners o"
    "  WHERE o.tenant_id = l.tenant_id AND o.endpoint_id = l.id"
    "  AND o.owner = $3::uuid AND o.lease_until > now())";

/* The ownership round (docs/engine.md, "Ownership"), one statement every
 * second or so from each dispatcher ($1, with endpoint leases of $2 ms):
 * it marks the dispatcher seen, forgets dispatchers not seen for ten
 * minutes, gives up the endpoints it owns that were disabled or deleted,
 * and those with no pending work left once a third of their lease has
 * passed (an endpoint that gets events now and then stays with its owner
 * between them), renews the others once a third of their lease has
 * passed, and takes endpoints with due work that nobody
 * holds (never owned, or whose owner let the lease run out) up to its
 * fair share: the endpoints with due work or a live owner, divided by
 * the dispatchers seen within a lease, rounded up. Two dispatchers
 * taking the same endpoint meet on its key, and the second finds the
 * lease live and takes nothing. The answer is every endpoint the caller
 * owns now, each with the share (one row of NULLs and the share when it
 * owns none): a renewal that lost its row to a take-over (the lease had
 * run out) does not come back. */
static const char sql_own[] =
    "WITH beat AS ("
    "  INSERT INTO hookd.dispatchers AS w (id, seen_at) VALUES ($1, now())"
    "  ON CONFLICT (id) DO UPDATE SET seen_at = now()"
    "  WHERE w.seen_at < now() - interval '500 milliseconds'),"
    " gone AS ("
    "  DELETE FROM hookd.dispatchers w"
    "  WHERE w.seen_at < now() - interval '10 minutes' AND w.id <> $1),"
    " live AS ("
    "  SELECT 1 + count(*) AS n FROM hookd.dispatchers w WHERE w.id <> $1"
    "  AND w.seen_at > now() - $2::bigint * interval '1 millisecond'),"
    " mine AS MATERIALIZED ("
    "  SELECT o.tenant_id, o.endpoint_id, o.lease_until,"
    "  EXISTS (SELECT 1 FROM hookd.endpoints e"
    "   WHERE e.tenant_id = o.tenant_id AND e.id = o.endpoint_id"
    "   AND e.enabled AND e.deleted_at IS NULL)"
    "  AND (o.lease_until >= now()"
    "    + $2::bigint * interval '666 microseconds'"
    "   OR EXISTS (SELECT 1 FROM hookd.queue q"
    "    WHERE q.tenant_id = o.tenant_id AND q.endpoint_id = o.endpoint_id))"
    "  AS keep"
    "  FROM hookd.endpoint_owners o WHERE o.owner = $1),"
    " dropped AS ("
    "  DELETE FROM hookd.endpoint_owners o USING mine m"
    "  WHERE o.tenant_id = m.tenant_id AND o.endpoint_id = m.endpoint_id"
    "  AND o.owner = $1 AND NOT m.keep),"
    " renewed AS ("
    "  UPDATE hookd.endpoint_owners o"
    "  SET lease_until = now() + $2::bigint * interval '1 millisecond'"
    "  FROM mine m"
    "  WHERE o.tenant_id = m.tenant_id AND o.endpoint_id = m.endpoint_id"
    "  AND o.owner = $1 AND m.keep"
    "  AND m.lease_until < now() + $2::bigint * interval '666 microseconds'"
    "  RETURNING o.tenant_id, o.endpoint_id),"
    " cand AS ("
    "  SELECT e.tenant_id, e.id FROM hookd.endpoints e"
    "  WHERE e.enabled AND e.deleted_at IS NULL"
    "  AND EXISTS (SELECT 1 FROM hookd.queue q"
    "   WHERE q.tenant_id = e.tenant_id AND q.endpoint_id = e.id"
    "   AND q.next_attempt_at <= now())),"
    " held AS ("
    "  SELECT o.tenant_id, o.endpoint_id FROM hookd.endpoint_owners o"
    "  WHERE o.owner <> $1 AND o.lease_until > now()"
    "  UNION ALL SELECT m.tenant_id, m.endpoint_id FROM mine m WHERE m.keep),"
    " share AS ("
    "  SELECT ceil(t.n::numeric / live.n)::int AS s FROM live, ("
    "   SELECT count(*) AS n FROM (SELECT c.tenant_id, c.id FROM cand c"
    "    UNION SELECT h.tenant_id, h.endpoint_id FROM held h) u) t),"
    " taken AS ("
    "  INSERT INTO hookd.endpoint_owners AS o"
    "  (tenant_id, endpoint_id, owner, lease_until)"
    "  SELECT c.tenant_id, c.id, $1,"
    "  now() + $2::bigint * interval '1 millisecond' FROM cand c"
    "  WHERE NOT EXISTS (SELECT 1 FROM held h"
    "   WHERE h.tenant_id = c.tenant_id AND h.endpoint_id = c.id)"
    "  ORDER BY random()"
    "  LIMIT GREATEST((SELECT s FROM share)"
    "   - (SELECT count(*) FROM mine WHERE mine.keep), 0)"
    "  ON CONFLICT (tenant_id, endpoint_id) DO UPDATE"
    "  SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until"
    "  WHERE o.lease_until < now()"
    "  RETURNING o.tenant_id, o.endpoint_id)"
    " SELECT x.tenant_id, x.endpoint_id, share.s, x.taken"
    " FROM share LEFT JOIN (SELECT m.tenant_id, m.endpoint_id, false AS taken"
    "  FROM mine m"
    "  WHERE m.keep"
    "  AND m.lease_until >= now() + $2::bigint * interval '666 microseconds'"
    "  UNION ALL SELECT n.tenant_id, n.endpoint_id, false FROM renewed n"
    "  UNION ALL SELECT t.tenant_id, t.endpoint_id, true FROM taken t) x"
    " ON true";

/* Endpoints a dispatcher over its share gives up (it stopped sending to
 * them a round before), for another to take at once. */
static const char sql_yield[] =
    "DELETE FROM hookd.endpoint_owners o"
    " USING unnest($2::uuid[], $3::uuid[]) AS y(tenant_id, id)"
    " WHERE o.tenant_id = y.tenant_id AND o.endpoint_id = y.id"
    " AND o.owner = $1";

/* A dispatcher stopping gives up its endpoints and its place. */
static const char sql_disown[] =
    "WITH o AS (DELETE FROM hookd.endpoint_owners WHERE owner = $1)"
    " DELETE FROM hookd.dispatchers WHERE id = $1";

static const char sql_prune[] =
    "DELETE FROM hookd.attempts WHERE ctid = ANY (ARRAY("
    " SELECT ctid FROM hookd.attempts"
    " WHERE started_at < now() - $1::int * interval '1 day' LIMIT 10000))";

/* Not TRUNCATE: giving the table's empty end back to the system takes a
 * lock that stops every claim and record meanwhile, and a queue that
 * emptied fills its pages again within seconds; autovacuum still does it
 * when it passes. */
static const char sql_vacuum_hot[] =
    "VACUUM (SKIP_LOCKED, TRUNCATE false) hookd.queue, hookd.leases";
static const char sql_vacuum_analyze_hot[] =
    "VACUUM (SKIP_LOCKED, TRUNCATE false, ANALYZE) hookd.queue, hookd.leases";
static const char sql_analyze_hot[] =
    "ANALYZE (SKIP_LOCKED) hookd.queue, hookd.leases";

static unsigned nibble(char c)
{
    if (c >= '0' && c <= '9')
        return (unsigned)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (unsigned)(c - 'a' + 10);
    return 0;
}

static unsigned char *unhex(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    unsigned char *out = hk_malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)(nibble(hex[2 * i]) << 4 |
                                 nibble(hex[2 * i + 1]));
    *len = n;
    return out;
}

/* Whether due work may be left after a claim that locked `locked` (> 0)
 * endpoints and picked r's rows: the
 * claim or the lock was cut at limit, or a locked endpoint got all of its
 * free slots (none at all, when it got no row). An endpoint that got fewer
 * rows than it had free slots had no more due work without a lease, as of
 * the claim's snapshot. */
static bool work_left(PGresult *r, int locked, int limit)
{
    int rows = PQntuples(r);
    if (locked >= limit || rows >= limit)
        return true;
    int *got = hk_calloc((size_t)locked, sizeof(*got));
    bool left = false;
    for (int i = 0; i < rows && !left; i++) {
        long k = strtol(PQgetvalue(r, i, 15), NULL, 10) - 1;
        /* a place out of range cannot be told apart: assume work is left */
        left = k < 0 || k >= locked || ++got[k] >= hk_db_get_int(r, i, 16);
    }
    for (int k = 0; k < locked && !left; k++)
        if (got[k] == 0)
            left = true;
    free(got);
    return left;
}

enum hk_result hk_store_claim(struct hk_conn *c, const char *owner,
                              int limit, int64_t lease_ms,
                              const char *exclude, const char *cap_ids,
                              const char *caps, const char *done_ids,
                              const char *live_ids, struct hk_claim **out,
                              size_t *n, bool *more)
{
    char lim[16], lease[24];
    snprintf(lim, sizeof(lim), "%d", limit);
    snprintf(lease, sizeof(lease), "%lld", (long long)lease_ms);
    PGresult *r = NULL;
    *out = NULL;
    *n = 0;
    *more = true;
    /* the locked endpoints as two uuid[] literals */
    struct hk_buf tids, eids;
    hk_buf_init(&tids);
    hk_buf_init(&eids);
    /* the answered and the unfinished deliveries' ids go in binary form
     * (see struct hk_pgbin): ~100 of them at each claim when busy. No
     * list is an empty array, which steps over nothing, as NULL would. */
    struct hk_pgbin done, live;
    hk_pgbin_init(&done, HK_OID_UUID);
    hk_pgbin_init(&live, HK_OID_UUID);
    hk_pgbin_uuid_list(&done, done_ids);
    hk_pgbin_uuid_list(&live, live_ids);
    int done_len = 0, live_len = 0;
    const char *done_bin = hk_pgbin_done(&done, &done_len);
    const char *live_bin = hk_pgbin_done(&live, &live_len);
    /* our own lists: a malformed one is a bug, refused before BEGIN */
    enum hk_result rc = done_bin != NULL && live_bin != NULL
                            ? hk_db_begin(c)
                            : HK_INTERNAL;
    bool in_tx = rc == HK_OK;
    if (rc == HK_OK)
        rc = hk_db_query_bin(
            c, sql_claim_lock, 5,
            (const char *const[]){lim, exclude, done_bin, live_bin, owner},
            (const int[]){0, 0, done_len, live_len, 0},
            (const int[]){0, 0, 1, 1, 0}, &r);
    int locked = rc == HK_OK ? PQntuples(r) : 0;
    if (locked > 0) {
        hk_buf_puts(&tids, "{");
        hk_buf_puts(&eids, "{");
        for (int i = 0; i < locked; i++) {
            hk_buf_printf(&tids, "%s%s", i ? "," : "", PQgetvalue(r, i, 0));
            hk_buf_printf(&eids, "%s%s", i ? "," : "", PQgetvalue(r, i, 1));
        }
        hk_buf_puts(&tids, "}");
        hk_buf_puts(&eids, "}");
    }
    PQclear(r);
    r = NULL;
    if (locked > 0) {
        const char *p[9] = {lim,   lease,    tids.data, eids.data, done_bin,
                            owner, live_bin, cap_ids,   caps};
        rc = hk_db_query_bin(
            c, sql_claim, 9, p,
            (const int[]){0, 0, 0, 0, done_len, 0, live_len, 0, 0},
            (const int[]){0, 0, 0, 0, 1, 0, 1, 0, 0}, &r);
    }
    hk_buf_cleanup(&tids);
    hk_buf_cleanup(&eids);
    hk_pgbin_cleanup(&done);
    hk_pgbin_cleanup(&live);
    if (rc == HK_OK)
        rc = hk_db_commit(c);
    else if (in_tx)
        hk_db_rollback(c);
    if (rc == HK_OK && locked == 0)
        *more = false; /* no endpoint has due work without a lease */
    if (rc != HK_OK || r == NULL) {
        PQclear(r);
        return rc;
    }
    int rows = PQntuples(r);
    *more = work_left(r, locked, limit);
    if (rows == 0) {
        PQclear(r);
        return HK_OK;
    }
    struct hk_claim *cl = hk_calloc((size_t)rows, sizeof(*cl));
    for (int i = 0; i < rows; i++) {
        struct hk_claim *x = &cl[i];
        snprintf(x->tenant_id, sizeof(x->tenant_id), "%s", PQgetvalue(r, i, 0));
        snprintf(x->delivery_id, sizeof(x->delivery_id), "%s",
                 PQgetvalue(r, i, 1));
        snprintf(x->event_id, sizeof(x->event_id), "%s", PQgetvalue(r, i, 2));
        snprintf(x->endpoint_id, sizeof(x->endpoint_id), "%s",
                 PQgetvalue(r, i, 3));
        x->attempt_count = hk_db_get_int(r, i, 4);
        x->cycle_attempts = hk_db_get_int(r, i, 5);
        x->rate_limit = hk_db_get_int(r, i, 6);
        x->url = hk_strdup(PQgetvalue(r, i, 7));
        x->headers = hk_strdup(PQgetvalue(r, i, 8));
        x->secret_enc = unhex(PQgetvalue(r, i, 9), &x->secret_len);
        if (!PQgetisnull(r, i, 10))
            x->prev_enc = unhex(PQgetvalue(r, i, 10), &x->prev_len);
        x->event_type = hk_strdup(PQgetvalue(r, i, 11));
        x->payload = hk_strdup(PQgetvalue(r, i, 12));
        snprintf(x->event_time, sizeof(x->event_time), "%s",
                 PQgetvalue(r, i, 13));
        x->max_concurrency = hk_db_get_int(r, i, 14);
        x->failing_since_ms = strtoll(PQgetvalue(r, i, 17), NULL, 10);
        x->current_concurrency = hk_db_get_int(r, i, 18);
        x->fifo = hk_db_get_bool(r, i, 19);
    }
    PQclear(r);
    *out = cl;
    *n = (size_t)rows;
    return HK_OK;
}

void hk_store_claims_free(struct hk_claim *claims, size_t n)
{
    if (claims == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(claims[i].url);
        free(claims[i].headers);
        free(claims[i].secret_enc);
        free(claims[i].prev_enc);
        free(claims[i].event_type);
        free(claims[i].payload);
    }
    free(claims);
}

#define NCOLS 26

/* The element type of each of sql_record's arrays, in order. */
static const unsigned record_types[NCOLS] = {
    HK_OID_UUID, HK_OID_UUID,  HK_OID_UUID,  HK_OID_INT4, HK_OID_INT8,
    HK_OID_INT4, HK_OID_INT4,  HK_OID_TEXT,  HK_OID_TEXT, HK_OID_JSONB,
    HK_OID_JSONB, HK_OID_TEXT, HK_OID_BOOL,  HK_OID_TEXT, HK_OID_INT8,
    HK_OID_INT4, HK_OID_UUID,  HK_OID_TEXT,  HK_OID_TEXT, HK_OID_INT4,
    HK_OID_INT4, HK_OID_INT4,  HK_OID_INT4,  HK_OID_INT4, HK_OID_INT4,
    HK_OID_UUID};

/* A phase in µs as the int column holds it; a phase longer than 35
 * minutes cannot happen under the request timeout's cap. */
static int32_t us(int64_t v)
{
    return v < 0 ? 0 : v > INT32_MAX ? INT32_MAX : (int32_t)v;
}

enum hk_result hk_store_record(struct hk_conn *c, const char *owner,
                               const struct hk_outcome_row *rows, size_t n)
{
    struct hk_pgbin a[NCOLS];
    for (int k = 0; k < NCOLS; k++)
        hk_pgbin_init(&a[k], record_types[k]);
    for (size_t i = 0; i < n; i++) {
        const struct hk_outcome_row *o = &rows[i];
        char id[HK_UUID_STRLEN];
        hk_uuid7(id);
        hk_pgbin_uuid(&a[0], o->tenant_id);
        hk_pgbin_uuid(&a[1], o->delivery_id);
        hk_pgbin_uuid(&a[2], o->endpoint_id);
        hk_pgbin_int4(&a[3], o->number);
        hk_pgbin_int8(&a[4], o->started_at_ms);
        hk_pgbin_int4(&a[5], o->duration_ms);
        if (o->status_code > 0)
            hk_pgbin_int4(&a[6], o->status_code);
        else
            hk_pgbin_null(&a[6]);
        hk_pgbin_text(&a[7], o->error);
        hk_pgbin_text(&a[8], o->url);
        hk_pgbin_text(&a[9], o->request_headers ? o->request_headers : "{}");
        hk_pgbin_text(&a[10], o->response_headers);
        hk_pgbin_text(&a[11], o->response_body);
        hk_pgbin_bool(&a[12], o->truncated);
        hk_pgbin_text(&a[13], o->new_status);
        hk_pgbin_int8(&a[14], o->next_attempt_ms);
        hk_pgbin_int4(&a[15], o->cycle_attempts);
        hk_pgbin_uuid(&a[16], id);
        hk_pgbin_text(&a[17], o->stopped_status);
        hk_pgbin_text(&a[18], o->remote_ip ? o->remote_ip : "");
        const struct hk_timings *t = o->timings;
        hk_pgbin_int4(&a[19], t ? us(t->dns_us) : 0);
        hk_pgbin_int4(&a[20], t ? us(t->connect_us) : 0);
        hk_pgbin_int4(&a[21], t ? us(t->tls_us) : 0);
        hk_pgbin_int4(&a[22], t ? us(t->ttfb_us) : 0);
        hk_pgbin_int4(&a[23], t ? us(t->total_us) : 0);
        hk_pgbin_int4(&a[24], o->concurrency);
        hk_pgbin_uuid(&a[25], owner);
    }
    enum hk_result rc = hk_db_query_arrays(c, sql_record, a, NCOLS, NULL);
    for (int k = 0; k < NCOLS; k++)
        hk_pgbin_cleanup(&a[k]);
    return rc;
}

enum hk_result hk_store_endpoint_disable(struct hk_conn *c, const char *tid,
                                         const char *eid, const char *reason)
{
    const char *p[3] = {tid, eid, reason};
    return hk_db_query(c, sql_disable, 3, p, NULL);
}

/* Runs sql, whose one row holds a count, into *n. */
static enum hk_result query_count(struct hk_conn *c, const char *sql, int np,
                                  const char *const *p, int *n)
{
    PGresult *r;
    *n = 0;
    enum hk_result rc = hk_db_query(c, sql, np, p, &r);
    if (rc != HK_OK)
        return rc;
    *n = hk_db_get_int(r, 0, 0);
    PQclear(r);
    return HK_OK;
}

static enum hk_result exec_count(struct hk_conn *c, const char *sql, int np,
                                 const char *const *p, int *n)
{
    PGresult *r;
    *n = 0;
    enum hk_result rc = hk_db_query(c, sql, np, p, &r);
    if (rc != HK_OK)
        return rc;
    *n = (int)strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return HK_OK;
}

enum hk_result hk_store_expire_leases(struct hk_conn *c, int *n)
{
    return query_count(c, sql_expire, 0, NULL, n);
}

enum hk_result hk_store_stopped_endpoints(struct hk_conn *c,
                                          const char *owner,
                                          const char *tenant_ids,
                                          const char *endpoint_ids,
                                          char **out)
{
    *out = NULL;
    PGresult *r = NULL;
    const char *p[3] = {tenant_ids, endpoint_ids, owner};
    enum hk_result rc = hk_db_query(c, sql_stopped, 3, p, &r);
    if (rc != HK_OK)
        return rc;
    int rows = PQntuples(r);
    if (rows > 0) {
        struct hk_buf b;
        hk_buf_init(&b);
        hk_buf_puts(&b, "{");
        for (int i = 0; i < rows; i++)
            hk_buf_printf(&b, "%s%s", i ? "," : "", PQgetvalue(r, i, 0));
        hk_buf_puts(&b, "}");
        *out = hk_buf_steal(&b);
    }
    PQclear(r);
    return HK_OK;
}

enum hk_result hk_store_release(struct hk_conn *c, const char *tenant_ids,
                                const char *delivery_ids)
{
    const char *p[2] = {tenant_ids, delivery_ids};
    return hk_db_query(c, sql_release, 2, p, NULL);
}

enum hk_result hk_store_prune_attempts(struct hk_conn *c, int days, int *n)
{
    char d[16];
    snprintf(d, sizeof(d), "%d", days);
    const char *p[1] = {d};
    return exec_count(c, sql_prune, 1, p, n);
}

enum hk_result hk_store_vacuum_hot(struct hk_conn *c, bool vacuum,
                                   bool analyze)
{
    const char *sql = vacuum ? (analyze ? sql_vacuum_analyze_hot
                                        : sql_vacuum_hot)
                             : sql_analyze_hot;
    return hk_db_exec(c, sql, 0, NULL, NULL);
}

enum hk_result hk_store_own(struct hk_conn *c, const char *owner,
                            int64_t lease_ms, struct hk_owned *out)
{
    char lease[24];
    snprintf(lease, sizeof(lease), "%lld", (long long)lease_ms);
    const char *p[2] = {owner, lease};
    PGresult *r = NULL;
    memset(out, 0, sizeof(*out));
    enum hk_result rc = hk_db_query(c, sql_own, 2, p, &r);
    if (rc != HK_OK)
        return rc;
    int rows = PQntuples(r);
    out->share = rows > 0 ? hk_db_get_int(r, 0, 2) : 0;
    if (rows > 0)
        out->v = hk_calloc((size_t)rows, sizeof(*out->v));
    for (int i = 0; i < rows; i++) {
        if (PQgetisnull(r, i, 0))
            continue;
        if (hk_db_get_bool(r, i, 3))
            out->taken++;
        struct hk_owned_ep *e = &out->v[out->n++];
        snprintf(e->tenant_id, sizeof(e->tenant_id), "%s", PQgetvalue(r, i, 0));
        snprintf(e->endpoint_id, sizeof(e->endpoint_id), "%s",
                 PQgetvalue(r, i, 1));
    }
    PQclear(r);
    return HK_OK;
}

enum hk_result hk_store_yield(struct hk_conn *c, const char *owner,
                              const char *tenant_ids,
                              const char *endpoint_ids)
{
    const char *p[3] = {owner, tenant_ids, endpoint_ids};
    return hk_db_query(c, sql_yield, 3, p, NULL);
}

enum hk_result hk_store_disown(struct hk_conn *c, const char *owner)
{
    const char *p[1] = {owner};
    return hk_db_query(c, sql_disown, 1, p, NULL);
}
