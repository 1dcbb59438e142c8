-- The trace of the webhook each history row applied (W3C trace id, 32 hex digits), so that an
-- order's history leads to the trace from TEvo's POST to the commit. NULL when the webhook was
-- not traced (tracing off at the ingress) or came from no webhook (reconcile, older rows).
ALTER TABLE pos.order_history ADD COLUMN trace_id text;
