-- Versions 2 and 3 are the common idempotency_keys and outbox tables
-- (OnboardingSchemaMigrations): the next file here is 0004.
-- Invitations of existing Knox customers. state: 0 OPENING (created here, the customer not yet
-- marked PENDING: a sweeper finishes or abandons it), then the Invitation.State values.
CREATE TABLE invitations (
  invitation_id             text PRIMARY KEY,
  msp_id                    text NOT NULL,
  customer_id               text NOT NULL,
  request_id                text NOT NULL DEFAULT '',
  management_type           smallint NOT NULL,
  services                  smallint[] NOT NULL,
  knox_manage_tenant_prefix text NOT NULL DEFAULT '',
  state                     smallint NOT NULL,
  company_name              text NOT NULL,
  contact_first_name        text NOT NULL,
  contact_last_name         text NOT NULL,
  contact_email             text NOT NULL,
  contact_phone             text NOT NULL,
  reject_reason             text NOT NULL DEFAULT '',
  create_time               timestamptz NOT NULL DEFAULT now(),
  expire_time               timestamptz NOT NULL,
  answer_time               timestamptz,
  last_send_time            timestamptz,
  send_count                integer NOT NULL DEFAULT 0,
  sends_window_start        timestamptz,
  sends_in_window           integer NOT NULL DEFAULT 0
);
-- One open invitation per customer, whichever MSP: the database decides between racers.
CREATE UNIQUE INDEX invitations_one_open ON invitations (customer_id) WHERE state IN (0, 1);
CREATE UNIQUE INDEX invitations_by_request ON invitations (msp_id, request_id) WHERE request_id <> '';
CREATE INDEX invitations_by_msp ON invitations (msp_id, create_time);
CREATE INDEX invitations_due ON invitations (expire_time) WHERE state = 1;
CREATE INDEX invitations_opening ON invitations (create_time) WHERE state = 0;
