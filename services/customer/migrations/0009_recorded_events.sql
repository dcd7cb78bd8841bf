-- Events other services record in a customer's trail (RecordCustomerEvent) carry a key of their
-- own: a redelivered event is recorded once.
ALTER TABLE customer_events ADD COLUMN event_key text;
CREATE UNIQUE INDEX customer_events_by_key ON customer_events (event_key) WHERE event_key IS NOT NULL;
