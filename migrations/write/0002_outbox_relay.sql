-- The relay asks, for each aggregate it is about to publish, whether an earlier unpublished
-- event of that aggregate exists (held by another relay, or committed late). This index
-- answers that from the unpublished rows alone, however long an aggregate's history grows.
CREATE INDEX outbox_unpublished_by_aggregate
    ON outbox (aggregate_type, aggregate_id, id)
    WHERE published_at IS NULL;
