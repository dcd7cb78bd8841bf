-- Version 2 is the common outbox table (CustomerSchemaMigrations).
-- The Knox services asked for with a new customer: they show PROVISIONING until the outbox
-- relay has assigned them, or PROVISIONING_FAILED with services_error when that was refused.
ALTER TABLE customers
  ADD COLUMN requested_services smallint[] NOT NULL DEFAULT '{}',
  ADD COLUMN services_error text NOT NULL DEFAULT '';
