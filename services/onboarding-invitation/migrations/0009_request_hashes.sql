-- The digest of the request that chose a request_id: the same id with another request is
-- refused (REQUEST_ID_REUSED) rather than answered with the first request's answer.
ALTER TABLE link_requests ADD COLUMN request_hash text NOT NULL DEFAULT '';

-- Request ids of internal callers (the customer service's account-set-up requests) live apart
-- from the MSPs': an MSP's id can never hold ':', so an MSP that picks
-- "account-setup-<customer>-upgrade" can no longer suppress that email.
UPDATE link_requests SET request_id = 'service:' || request_id
WHERE kind = 3 AND request_id <> '' AND request_id NOT LIKE 'service:%';
