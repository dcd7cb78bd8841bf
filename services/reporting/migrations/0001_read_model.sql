-- Reporting's read model: each customer as the change events describe it. Fed only by
-- msp.events.v1 events (and the rebuild, which makes the same events from the list RPCs).
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

-- The events' states as last heard, with their versions: the source of every derived column.
-- Consumers lock these rows (FOR UPDATE) while they apply a batch, so replicas never interleave.
CREATE TABLE customer_sources (
  customer_id      text PRIMARY KEY,
  customer_version bigint NOT NULL DEFAULT 0,
  msp_id           text NOT NULL DEFAULT '',
  account          bytea,  -- msp.customer.v1.Customer
  services_version bigint NOT NULL DEFAULT 0,
  services_msp_id  text NOT NULL DEFAULT '',
  services         bytea,  -- msp.assignment.v1.CustomerServices
  change_us        bigint NOT NULL DEFAULT 0
);

-- What the table, the details and the export read: narrow, one row per customer shown.
-- Times are microseconds since the epoch (exact keyset comparisons); link_us 0: never linked.
CREATE TABLE customer_rows (
  customer_id         text PRIMARY KEY,
  msp_id              text NOT NULL,
  company_name        text NOT NULL,
  name_key            text NOT NULL,
  state               smallint NOT NULL,
  management_type     smallint NOT NULL,
  service_key         text NOT NULL,
  service_mask        integer NOT NULL,
  active_mask         integer NOT NULL,
  total_devices       bigint NOT NULL,
  knox_manage_devices bigint,
  all_devices         bigint NOT NULL,
  create_us           bigint NOT NULL,
  update_us           bigint NOT NULL,
  link_us             bigint NOT NULL,
  search_text         text NOT NULL
);

-- One index per order_by, each led by the MSP, so that a page costs the same with ten
-- customers or a million.
CREATE INDEX customer_rows_by_name ON customer_rows (msp_id, name_key, customer_id);
CREATE INDEX customer_rows_by_services ON customer_rows (msp_id, service_key, customer_id);
CREATE INDEX customer_rows_by_id ON customer_rows (msp_id, customer_id);
CREATE INDEX customer_rows_by_type ON customer_rows (msp_id, management_type, customer_id);
CREATE INDEX customer_rows_by_devices ON customer_rows (msp_id, all_devices, customer_id);
CREATE INDEX customer_rows_by_update ON customer_rows (msp_id, update_us, customer_id);
CREATE INDEX customer_rows_by_create ON customer_rows (msp_id, create_us, customer_id);
CREATE INDEX customer_rows_by_link ON customer_rows (msp_id, link_us, customer_id);
CREATE INDEX customer_rows_search ON customer_rows USING gin (search_text public.gin_trgm_ops);

-- Each MSP admin's chosen columns (msp.reporting.v1.Column numbers, in order).
CREATE TABLE table_preferences (
  msp_id      text NOT NULL,
  admin_id    text NOT NULL,
  columns     smallint[] NOT NULL,
  update_time timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (msp_id, admin_id)
);
