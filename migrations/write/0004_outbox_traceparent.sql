-- The W3C trace context of the command that caused each event (the worker's span), sent on
-- by the relay as the event's `traceparent` message attribute. NULL: not traced (events
-- written before this column, or by a process without tracing). Nullable and without a
-- default, so adding it rewrites nothing.
ALTER TABLE outbox ADD COLUMN traceparent TEXT;
