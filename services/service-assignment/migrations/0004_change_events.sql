-- Version 3 is the common outbox table (AssignmentSchemaMigrations).
-- Every committed change of a customer's services (assigned, state, device counts) bumps the
-- customer's services version and becomes a `services-changed` outbox message in the same
-- transaction: the relay publishes the services as they are then onto the change stream
-- (msp.events.v1.CustomerServicesChanged). Statement-level, so a batch of device-count reports
-- costs one insert of versions and one of messages, not one per row.
CREATE TABLE service_versions (
  customer_id text PRIMARY KEY,
  version     bigint NOT NULL
);

CREATE FUNCTION services_changed() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT
AS $$
BEGIN
  WITH changed AS (
    SELECT DISTINCT ON (customer_id) customer_id, msp_id FROM changed_rows ORDER BY customer_id),
  bumped AS (
    INSERT INTO service_versions AS v (customer_id, version)
    SELECT customer_id, 1 FROM changed ORDER BY customer_id
    ON CONFLICT (customer_id) DO UPDATE SET version = v.version + 1
    RETURNING customer_id, version)
  INSERT INTO outbox (msp_id, topic, message_key, payload)
  SELECT c.msp_id, 'services-changed', b.customer_id || ':' || b.version,
         convert_to(b.customer_id, 'UTF8')
  FROM changed c JOIN bumped b USING (customer_id);
  RETURN NULL;
END
$$;

-- PostgreSQL allows transition tables only on single-event triggers: one trigger each.
CREATE TRIGGER customer_services_inserted AFTER INSERT ON customer_services
  REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION services_changed();
CREATE TRIGGER customer_services_updated AFTER UPDATE ON customer_services
  REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION services_changed();
