-- When the emails MSPs had sent to each customer's super admin went out, over the last day,
-- across all invitations and delink requests: the per-recipient throttle
-- (RecipientLimits) reads and extends it under the row's lock.
CREATE TABLE recipient_sends (
  customer_id text PRIMARY KEY,
  sent_at     timestamptz[] NOT NULL DEFAULT '{}'
);
