/*
 * store_dispatch.c - the dispatcher's SQL: the ownership round, the fair
 * claim, the batched outcome write, what an owner holds, endpoint
 * disabling, the sweep of endpoints gone away and attempt pruning. A batch of outcomes travels as parallel arrays through
 * unnest() so that one round trip records hundreds of attempts.
 */
#include "store.h"
#include "deliver.h"
#include "ids.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A claim is one read, in no transaction of its own, of the endpoints
 * the claiming dispatcher ($5) owns under a live lease (sql_own below,
 * docs/engine.md "Ownership"): no other dispatcher claims their
 * deliveries, so nothing is locked or written. The claimer says what it
 * already holds: $4, the deliveries it has claimed and not finished
 * (waiting in a lane, held for a rate limit, or in flight) with their
 * endpoints in $6, and $3, the deliveries of requests it has finished
 * whose outcome may not be recorded yet. The claim steps over both by id
 * (they are still pending, at the head of their endpoint's queue, until
 * the recorder writes them), and counts the first list less the second
 * against each endpoint's slots: max_concurrency (HK_LANE_DEPTH times it
 * without a rate_limit, the rest waiting in the dispatcher's lane so that
 * a freed slot does not wait for the next claim), no more than its
 * rate_limit in one claim, no more than the cap of $7/$8 (the adaptive
 * limit), and one for a fifo endpoint, whose due work is only the head
 * of its queue in delivery order (the queue's key). Endpoints of $2 are
 * left out (jobs held for their rate limit, or being given up).
 * The endpoints are served in turns: one endpoint of every tenant (in
 * random order), then a second of each, and so on, so that a tenant with
 * many busy endpoints cannot crowd another tenant out of a claim that
 * has little room. Due deliveries come from the queue
 * (migrations/0015_queue.sql), oldest first, each with its endpoint's
 * settings, failing_since and current_concurrency from the one lookup of
 * the endpoint. The first row also says whether work may be left ($1 was
 * reached, or an endpoint got all of its free slots or had none): with no
 * delivery picked, it is the only row, its other columns NULL. */
static const char sql_claim[] =
    "WITH answered AS (SELECT unnest($3::uuid[]) AS id),"
    " mine AS (SELECT unnest($4::uuid[]) AS id),"
    " hand AS (SELECT h.eid, count(*) AS n"
    "  FROM unnest($6::uuid[], $4::uuid[]) AS h(eid, id)"
    "  WHERE h.id NOT IN (SELECT answered.id FROM answered)"
    "  GROUP BY h.eid),"
    " ep AS MATERIALIZED ("
    "  SELECT e.tenant_id, e.id, e.url, e.headers, e.secret_enc,"
    "  CASE WHEN e.prev_secret_expires_at > now() THEN e.prev_secret_enc"
    "  END AS prev_secret_enc, e.rate_limit, e.max_concurrency,"
    "  LEAST(CASE WHEN e.ordering = 'fifo' THEN 1"
    "   WHEN e.rate_limit IS NULL THEN " HK_STR(HK_LANE_DEPTH)
    "   * e.max_concurrency ELSE e.max_concurrency END - COALESCE(h.n, 0),"
    "   COALESCE(e.rate_limit, 1000000),"
    "   COALESCE(c.cap - COALESCE(h.n, 0), 1000000)) AS free,"
    "  e.failing_since, e.current_concurrency, e.ordering = 'fifo' AS fifo,"
    "  row_number() OVER (PARTITION BY e.tenant_id ORDER BY random())"
    "  AS turn, random() AS r"
    "  FROM hookd.endpoint_owners w JOIN hookd.endpoints e"
    "  ON e.tenant_id = w.tenant_id AND e.id = w.endpoint_id"
    "  LEFT JOIN hand h ON h.eid = e.id"
    "  LEFT JOIN unnest($7::uuid[], $8::int[]) AS c(id, cap) ON c.id = e.id"
    "  WHERE w.owner = $5::uuid AND w.lease_until > now()"
    "  AND e.enabled AND e.deleted_at IS NULL"
    "  AND ($2::uuid[] IS NULL OR NOT (e.id = ANY ($2::uuid[])))),"
    " picked AS MATERIALIZED ("
    "  SELECT x.*, ep.url, ep.headers, ep.secret_enc, ep.prev_secret_enc,"
    "  ep.rate_limit, ep.max_concurrency, ep.free, ep.failing_since,"
    "  ep.current_concurrency, ep.fifo"
    "  FROM ep CROSS JOIN LATERAL ("
    "   (SELECT d.tenant_id, d.delivery_id AS id, d.event_id, d.endpoint_id,"
    "    d.attempt_count, d.cycle_attempts, d.next_attempt_at"
    "    FROM hookd.queue d"
    "    WHERE NOT ep.fifo AND ep.free > 0"
    "    AND d.tenant_id = ep.tenant_id AND d.endpoint_id = ep.id"
    "    AND d.next_attempt_at <= now()"
    "    AND d.delivery_id NOT IN (SELECT answered.id FROM answered)"
    "    AND d.delivery_id NOT IN (SELECT mine.id FROM mine)"
    "    ORDER BY d.next_attempt_at LIMIT GREATEST(ep.free, 0))"
    "   UNION ALL"
    "   SELECT h.* FROM (SELECT d.tenant_id, d.delivery_id AS id, d.event_id,"
    "    d.endpoint_id, d.attempt_count, d.cycle_attempts, d.next_attempt_at"
    "    FROM hookd.queue d"
    "    WHERE ep.fifo AND ep.free > 0 AND d.tenant_id = ep.tenant_id"
    "    AND d.endpoint_id = ep.id ORDER BY d.delivery_id LIMIT 1) h"
    "   WHERE h.next_attempt_at <= now()"
    "   AND h.id NOT IN (SELECT answered.id FROM answered)"
    "   AND h.id NOT IN (SELECT mine.id FROM mine)) x"
    "  ORDER BY ep.turn, ep.r, x.next_attempt_at LIMIT $1),"
    " more AS ("
    "  SELECT (SELECT count(*) FROM picked) >= $1"
    "  OR EXISTS (SELECT 1 FROM ep WHERE ep.free <= 0)"
    "  OR EXISTS (SELECT 1 FROM picked p GROUP BY p.endpoint_id"
    "   HAVING count(*) >= min(p.free)) AS left)"
    " SELECT d.tenant_id, d.id, d.event_id, d.endpoint_id,"
    "  d.attempt_count, d.cycle_attempts, COALESCE(d.rate_limit, 0), d.url,"
    "  d.headers::text, encode(d.secret_enc, 'hex'),"
    "  encode(d.prev_secret_enc, 'hex'),"
    "  v.event_type, v.payload, hookd.rfc3339(v.created_at), d.max_concurrency,"
    "  more.left,"
    "  COALESCE((extract(epoch FROM d.failing_since) * 1000)::bigint, 0),"
    "  COALESCE(d.current_concurrency, 0), d.fifo"
    " FROM more LEFT JOIN (picked d"
    "  JOIN hookd.events v ON v.tenant_id = d.tenant_id AND v.id = d.event_id)"
    " ON true"
    " ORDER BY d.next_attempt_at, d.id";

/* A delivery still pending is ours to finish; one whose endpoint went
 * away or was disabled in the meantime is not tried again. A late
 * outcome, whose endpoint another dispatcher owns now (this one lost its
 * lease, and the new owner may be sending the delivery again), is
 * written as an attempt but leaves the delivery to the owner. A delivery
 * ended without an attempt while its request was in flight (skipped, or
 * failed with its endpoint's pending deliveries) counts the attempt, and
 * becomes succeeded when that request succeeded: the receiver has it;
 * otherwise it keeps why it ended. An outcome whose delivery is gone (its
 * tenant was deleted while the request was in flight) has nothing to
 * attach to and is dropped. Attempts have
 * no foreign key to their delivery (migrations/0012_attempts_fk.sql):
 * an attempt is written only beside a delivery this statement updated,
 * and so locked, or one it locked for the purpose (a late outcome), so
 * that a deletion of the tenant waits for this statement and
 * then deletes what it wrote. Each delivery is found by its primary key;
 * the triggers of
 * migrations/0015_queue.sql then delete the queue rows of the deliveries
 * that ended, and move the due time of those to be tried again. No index
 * of deliveries reads what this statement changes, so each delivery's
 * row is rewritten in its own page (a HOT update) when it has room. Each
 * endpoint's state and owner are looked up once per batch (ee), not once
 * per outcome. The endpoints' state is joined to
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
    " ee AS MATERIALIZED ("
    "  SELECT x.tenant_id, x.endpoint_id,"
    "  e.deleted_at IS NULL AND e.enabled AS live,"
    "  o.owner IS NULL OR o.owner = x.owner AS ours"
    "  FROM (SELECT DISTINCT r.tenant_id, r.endpoint_id, r.owner FROM r) x"
    "  JOIN hookd.endpoints e"
    "  ON e.tenant_id = x.tenant_id AND e.id = x.endpoint_id"
    "  LEFT JOIN hookd.endpoint_owners o"
    "  ON o.tenant_id = x.tenant_id AND o.endpoint_id = x.endpoint_id),"
    " re AS MATERIALIZED ("
    "  SELECT r.tenant_id, r.delivery_id, r.endpoint_id, r.owner, r.number,"
    "  r.status_code, r.error, r.next_ms, r.cycle, r.started_ms,"
    "  CASE WHEN ee.live THEN r.new_status"
    "   ELSE r.stopped_status END AS status, ee.ours"
    "  FROM r JOIN ee"
    "  ON ee.tenant_id = r.tenant_id AND ee.endpoint_id = r.endpoint_id),"
    " d AS ("
    "  UPDATE hookd.deliveries d SET"
    "  status = CASE WHEN d.status = 'pending' OR r.status = 'succeeded'"
    "   THEN r.status ELSE d.status END,"
    "  attempt_count = GREATEST(d.attempt_count, r.number),"
    "  cycle_attempts = r.cycle,"
    "  next_attempt_at = CASE WHEN d.status = 'pending'"
    "   AND r.status = 'pending' THEN to_timestamp(r.next_ms / 1000.0) END,"
    "  last_status_code = r.status_code,"
    "  last_error = CASE WHEN d.status = 'pending' OR r.status = 'succeeded'"
    "   THEN r.error ELSE d.last_error END, updated_at = now(),"
    "  completed_at = CASE WHEN d.status <> 'pending'"
    "   AND r.status <> 'succeeded' THEN d.completed_at"
    "   WHEN r.status = 'pending' THEN NULL ELSE now() END"
    "  FROM re r"
    "  WHERE d.tenant_id = r.tenant_id AND d.id = r.delivery_id"
    "  AND r.ours AND (d.status = 'pending'"
    "   OR (d.status = 'failed' AND d.attempt_count < r.number"
    "    AND d.completed_at >= to_timestamp(r.started_ms / 1000.0)"
    "     - interval '1 second'))"
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
 * as are those of the sweep below. */
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
    "  AND d.status = 'pending' AND NOT " HK_SQL_SENDING
    "  RETURNING d.tenant_id, d.id)"
    " INSERT INTO hookd.changes (tenant_id, id, delivery_id)"
    " SELECT f.tenant_id, hookd.uuid7(), f.id FROM f";

/* The pending deliveries of endpoints gone away (deleted, or disabled
 * by hookd: 410, failing too long; a reason is then recorded) end
 * failed, as their siblings did when it happened, once no live owner
 * holds them: those the owner held then, and those of an owner that died
 * with them. An endpoint disabled by hand keeps them pending until it is
 * enabled again. The change is logged for the live updates route. */
static const char sql_gone[] =
    "WITH f AS ("
    "  UPDATE hookd.deliveries d SET status = 'failed',"
    "  next_attempt_at = NULL, completed_at = now(),"
    "  last_error = COALESCE(d.last_error, CASE WHEN e.deleted_at IS NOT"
    "   NULL THEN 'endpoint deleted' ELSE 'endpoint disabled' END),"
    "  updated_at = now()"
    "  FROM hookd.endpoints e JOIN hookd.queue q"
    "  ON q.tenant_id = e.tenant_id AND q.endpoint_id = e.id"
    "  WHERE (e.deleted_at IS NOT NULL"
    "   OR (NOT e.enabled AND e.disabled_reason IS NOT NULL))"
    "  AND d.tenant_id = q.tenant_id AND d.id = q.delivery_id"
    "  AND NOT EXISTS (SELECT 1 FROM hookd.endpoint_owners o"
    "   WHERE o.tenant_id = e.tenant_id AND o.endpoint_id = e.id"
    "   AND o.lease_until > now() AND d.id = ANY (o.holding))"
    "  AND d.status = 'pending'"
    "  RETURNING d.tenant_id, d.id),"
    " g AS (INSERT INTO hookd.changes (tenant_id, id, delivery_id)"
    "  SELECT f.tenant_id, hookd.uuid7(), f.id FROM f)"
    " SELECT count(*) FROM f";

/* What a dispatcher holds of each endpoint it owns ($2, $3: parallel
 * endpoint and delivery ids), for the API's "sending"; only the rows
 * that changed are written. */
static const char sql_hold[] =
    "WITH h AS (SELECT x.eid, array_agg(x.id ORDER BY x.id) AS ids"
    "  FROM unnest($2::uuid[], $3::uuid[]) AS x(eid, id) GROUP BY x.eid),"
    " v AS (SELECT o.tenant_id, o.endpoint_id,"
    "  COALESCE(h.ids, '{}'::uuid[]) AS ids"
    "  FROM hookd.endpoint_owners o LEFT JOIN h ON h.eid = o.endpoint_id"
    "  WHERE o.owner = $1::uuid)"
    " UPDATE hookd.endpoint_owners o SET holding = v.ids, held_at = now()"
    " FROM v"
    " WHERE o.tenant_id = v.tenant_id AND o.endpoint_id = v.endpoint_id"
    " AND o.owner = $1::uuid AND o.holding <> v.ids";

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
 * passed, but none while it still holds some of its deliveries (their
 * requests in flight are recorded under its ownership) and none that
 * held any within that third (held_at: the list of what the owner holds
 * changed). An endpoint with a steady stream of events has no pending
 * work most of the time, between one delivery's answer and the next
 * event; given up then, its next events would wait for the next round
 * (up to OWN_ROUND_MIN_MS) before any claim could take them. It renews
 * the others once a third of their lease has passed, and takes endpoints
 * with due work that nobody holds (never owned, or whose owner let the
 * lease run out) up to its fair share: the endpoints with due work or a live owner, divided by
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
    "  cardinality(o.holding) > 0 OR EXISTS (SELECT 1 FROM hookd.endpoints e"
    "   WHERE e.tenant_id = o.tenant_id AND e.id = o.endpoint_id"
    "   AND e.enabled AND e.deleted_at IS NULL)"
    "  AND (o.lease_until >= now()"
    "    + $2::bigint * interval '666 microseconds'"
    "   OR o.held_at > now() - $2::bigint * interval '333 microseconds'"
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
    "  SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until,"
    "  holding = '{}', held_at = now()"
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
    "VACUUM (SKIP_LOCKED, TRUNCATE false) hookd.queue, hookd.endpoint_owners";
static const char sql_vacuum_analyze_hot[] =
    "VACUUM (SKIP_LOCKED, TRUNCATE false, ANALYZE) hookd.queue,"
    " hookd.endpoint_owners";
static const char sql_analyze_hot[] =
    "ANALYZE (SKIP_LOCKED) hookd.queue, hookd.endpoint_owners";

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

/* A uuid column's text into an id field (36 characters and the NUL). */
static void copy_id(char out[HK_UUID_STRLEN], const PGresult *r, int row,
                    int col)
{
    size_t n = (size_t)PQgetlength(r, row, col);
    if (n > HK_UUID_STRLEN - 1)
        n = HK_UUID_STRLEN - 1;
    memcpy(out, PQgetvalue(r, row, col), n);
    out[n] = '\0';
}

enum hk_result hk_store_claim(struct hk_conn *c, const char *owner,
                              int limit, const char *exclude,
                              const char *cap_ids, const char *caps,
                              const struct hk_buf *done_ids,
                              const struct hk_buf *live_ids,
                              const struct hk_buf *live_eps,
                              struct hk_claim **out,
                              size_t *n, bool *more)
{
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", limit);
    PGresult *r = NULL;
    *out = NULL;
    *n = 0;
    *more = true;
    /* the answered and the held deliveries' ids, and the held ones'
     * endpoints, go in binary form (see struct hk_pgbin): a few hundred
     * of them at each claim when busy. No list is an empty array, which
     * steps over nothing, as NULL would. */
    struct hk_pgbin done, live, eps;
    hk_pgbin_init(&done, HK_OID_UUID);
    hk_pgbin_init(&live, HK_OID_UUID);
    hk_pgbin_init(&eps, HK_OID_UUID);
    hk_pgbin_uuids(&done, done_ids);
    hk_pgbin_uuids(&live, live_ids);
    hk_pgbin_uuids(&eps, live_eps);
    int done_len = 0, live_len = 0, eps_len = 0;
    const char *done_bin = hk_pgbin_done(&done, &done_len);
    const char *live_bin = hk_pgbin_done(&live, &live_len);
    const char *eps_bin = hk_pgbin_done(&eps, &eps_len);
    enum hk_result rc = HK_INTERNAL;
    if (done_bin != NULL && live_bin != NULL && eps_bin != NULL)
        rc = hk_db_query_bin(
            c, sql_claim, 8,
            (const char *const[]){lim, exclude, done_bin, live_bin, owner,
                                  eps_bin, cap_ids, caps},
            (const int[]){0, 0, done_len, live_len, 0, eps_len, 0, 0},
            (const int[]){0, 0, 1, 1, 0, 1, 0, 0}, &r);
    hk_pgbin_cleanup(&done);
    hk_pgbin_cleanup(&live);
    hk_pgbin_cleanup(&eps);
    if (rc != HK_OK) {
        PQclear(r);
        return rc;
    }
    int rows = PQntuples(r);
    *more = rows > 0 && hk_db_get_bool(r, 0, 15);
    /* with nothing picked, the one row holds only the flag */
    if (rows == 1 && PQgetisnull(r, 0, 1))
        rows = 0;
    if (rows == 0) {
        PQclear(r);
        return HK_OK;
    }
    struct hk_claim *cl = hk_calloc((size_t)rows, sizeof(*cl));
    bool bad = false;
    for (int i = 0; i < rows; i++) {
        struct hk_claim *x = &cl[i];
        copy_id(x->tenant_id, r, i, 0);
        copy_id(x->delivery_id, r, i, 1);
        copy_id(x->event_id, r, i, 2);
        copy_id(x->endpoint_id, r, i, 3);
        if (!hk_uuid_bin(x->delivery_id, x->delivery_bin) ||
            !hk_uuid_bin(x->endpoint_id, x->endpoint_bin))
            bad = true;
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
        x->failing_since_ms = strtoll(PQgetvalue(r, i, 16), NULL, 10);
        x->current_concurrency = hk_db_get_int(r, i, 17);
        x->fifo = hk_db_get_bool(r, i, 18);
    }
    PQclear(r);
    if (bad) {
        hk_store_claims_free(cl, (size_t)rows);
        return HK_INTERNAL;
    }
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

enum hk_result hk_store_fail_gone(struct hk_conn *c, int *n)
{
    return query_count(c, sql_gone, 0, NULL, n);
}

enum hk_result hk_store_hold(struct hk_conn *c, const char *owner,
                             const struct hk_buf *endpoint_ids,
                             const struct hk_buf *delivery_ids)
{
    struct hk_pgbin eps, ids;
    hk_pgbin_init(&eps, HK_OID_UUID);
    hk_pgbin_init(&ids, HK_OID_UUID);
    hk_pgbin_uuids(&eps, endpoint_ids);
    hk_pgbin_uuids(&ids, delivery_ids);
    int eps_len = 0, ids_len = 0;
    const char *eps_bin = hk_pgbin_done(&eps, &eps_len);
    const char *ids_bin = hk_pgbin_done(&ids, &ids_len);
    enum hk_result rc = HK_INTERNAL;
    if (eps_bin != NULL && ids_bin != NULL)
        rc = hk_db_query_bin(c, sql_hold, 3,
                             (const char *const[]){owner, eps_bin, ids_bin},
                             (const int[]){0, eps_len, ids_len},
                             (const int[]){0, 1, 1}, NULL);
    hk_pgbin_cleanup(&eps);
    hk_pgbin_cleanup(&ids);
    return rc;
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
