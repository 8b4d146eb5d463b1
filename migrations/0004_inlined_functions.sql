-- rfc3339 calls to_char, which is STABLE; declared IMMUTABLE it could not
-- be inlined, so every statement that formatted a time parsed and planned
-- its body again. STABLE is what it is, and lets the planner inline it.
ALTER FUNCTION hookd.rfc3339(timestamptz) STABLE;
