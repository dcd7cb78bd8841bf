-- Who asked for an invitation or a delink request (the MSP admin, as the token said): the
-- customer's trail names that admin, also when the sweeper finishes the request after a crash.
ALTER TABLE link_requests ADD COLUMN requested_by text NOT NULL DEFAULT '';
