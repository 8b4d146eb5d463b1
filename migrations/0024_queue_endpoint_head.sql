-- An endpoint's pending deliveries in id order, so that the head of a fifo
-- endpoint (its pending delivery of lowest id, which holds the others
-- while it waits for a retry: docs/api.md, ordered delivery) is one probe
-- of this index. Without it, showing whether an endpoint is blocked walks
-- every pending delivery of its tenant, once per fifo endpoint of a list.
CREATE INDEX queue_endpoint_head
    ON hookd.queue (tenant_id, endpoint_id, delivery_id);
