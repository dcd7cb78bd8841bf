-- Customer accounts. msp_id is in every table and key so that sharding by MSP stays possible;
-- it is NULL for an existing Knox customer that no MSP manages.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

CREATE TABLE customers (
  customer_id        text PRIMARY KEY,
  msp_id             text,
  company_name       text NOT NULL,
  company_size       smallint NOT NULL,
  industries         smallint[] NOT NULL,
  country_code       text NOT NULL,
  address_line1      text NOT NULL,
  address_line2      text NOT NULL DEFAULT '',
  city               text NOT NULL,
  region             text NOT NULL,
  zip_code           text NOT NULL,
  website_uri        text NOT NULL DEFAULT '',
  contact_first_name text NOT NULL,
  contact_last_name  text NOT NULL,
  contact_email      text NOT NULL,
  contact_phone      text NOT NULL,
  contact_job_title  text NOT NULL DEFAULT '',
  management_type    smallint NOT NULL,
  state              smallint NOT NULL,
  create_time        timestamptz NOT NULL,
  update_time        timestamptz NOT NULL,
  msp_link_time      timestamptz,
  version            bigint NOT NULL DEFAULT 1,
  -- Sort key for company names: case-insensitive, ties broken by customer_id.
  company_name_key   text GENERATED ALWAYS AS (lower(company_name)) STORED,
  -- What the search box looks in.
  search_text        text GENERATED ALWAYS AS (
    lower(company_name || ' ' || customer_id || ' ' || contact_first_name || ' ' ||
          contact_last_name || ' ' || contact_email)) STORED
);

-- One index per order_by, each led by the MSP, so a page costs the same with 10 or 10 million
-- customers.
CREATE INDEX customers_by_name ON customers (msp_id, company_name_key, customer_id);
CREATE INDEX customers_by_create ON customers (msp_id, create_time, customer_id);
CREATE INDEX customers_by_update ON customers (msp_id, update_time, customer_id);
CREATE INDEX customers_by_id ON customers (msp_id, customer_id);
CREATE INDEX customers_search ON customers USING gin (search_text public.gin_trgm_ops);

-- The audit trail: who changed what, when.
CREATE TABLE customer_events (
  event_id       bigserial PRIMARY KEY,
  msp_id         text NOT NULL,
  customer_id    text NOT NULL,
  action         text NOT NULL,
  actor          text NOT NULL,
  changed_fields text[] NOT NULL DEFAULT '{}',
  request_id     text NOT NULL DEFAULT '',
  create_time    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_events_by_customer ON customer_events (msp_id, customer_id, event_id);

-- Answers already given to requests with a request_id: a retry gets the first answer.
CREATE TABLE idempotency_keys (
  msp_id       text NOT NULL,
  request_id   text NOT NULL,
  method       text NOT NULL,
  request_hash bytea NOT NULL,
  response     bytea NOT NULL,
  create_time  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (msp_id, request_id)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (create_time);
