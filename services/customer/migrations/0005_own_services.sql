-- The Knox services an existing Knox customer's account uses on its own (before any MSP): an
-- MSP sees them when it looks the customer up to invite it.
ALTER TABLE customers ADD COLUMN own_services smallint[] NOT NULL DEFAULT '{}';
