-- Versions 2 and 3 are the common idempotency_keys and outbox tables
-- (AssignmentSchemaMigrations): the next file here is 0004.
-- The Knox services of customers. A customer id is unique across MSPs, so (customer, service)
-- is the key; msp_id is the MSP managing the customer now (a delinked customer re-added by
-- another MSP gets its ended services back under that MSP).
CREATE TABLE customer_services (
  customer_id               text NOT NULL,
  service                   smallint NOT NULL,
  msp_id                    text NOT NULL,
  state                     smallint NOT NULL,
  state_reason              text NOT NULL DEFAULT '',
  device_count              bigint NOT NULL DEFAULT 0,
  devices_needing_attention bigint NOT NULL DEFAULT 0,
  counts_observe_time       timestamptz,
  add_time                  timestamptz NOT NULL DEFAULT now(),
  update_time               timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (customer_id, service)
);
CREATE INDEX customer_services_by_msp ON customer_services (msp_id, customer_id);

-- Knox Manage tenants: the unique constraint, not a read-then-write, keeps ids unique under
-- concurrent requests. One tenant per customer, kept when the customer is delinked.
CREATE TABLE knox_manage_tenants (
  tenant_id   text PRIMARY KEY,
  customer_id text NOT NULL UNIQUE,
  msp_id      text NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now()
);
