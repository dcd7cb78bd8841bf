-- Version 9 is the outbox's traceparent column (AssignmentSchemaMigrations).
-- A batch assigns the services of customers created in different traces: the writer sets
-- msp.traceparent_of (AssignmentStore::AssignBatch) to a JSON object of customer id ->
-- traceparent, and each customer's services-changed message carries its own; otherwise the
-- transaction's trace (msp.traceparent, as for every outbox row).
CREATE OR REPLACE FUNCTION services_changed() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
  trace_of jsonb := nullif(current_setting('msp.traceparent_of', true), '')::jsonb;
BEGIN
  WITH changed AS (
    SELECT DISTINCT ON (customer_id) customer_id, msp_id FROM changed_rows ORDER BY customer_id),
  bumped AS (
    INSERT INTO service_versions AS v (customer_id, version)
    SELECT customer_id, 1 FROM changed ORDER BY customer_id
    ON CONFLICT (customer_id) DO UPDATE SET version = v.version + 1
    RETURNING customer_id, version)
  INSERT INTO outbox (msp_id, topic, message_key, payload, traceparent)
  SELECT c.msp_id, 'services-changed', b.customer_id || ':' || b.version,
         convert_to(b.customer_id, 'UTF8'),
         coalesce(trace_of ->> b.customer_id, current_setting('msp.traceparent', true), '')
  FROM changed c JOIN bumped b USING (customer_id);
  RETURN NULL;
END
$$;
