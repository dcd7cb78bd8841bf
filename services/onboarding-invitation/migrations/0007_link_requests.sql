-- The table holds invitations, delink requests and account-set-up emails (its `kind`): name it
-- for what it holds.
ALTER TABLE invitations RENAME TO link_requests;
ALTER INDEX invitations_pkey RENAME TO link_requests_pkey;
ALTER INDEX invitations_one_open RENAME TO link_requests_one_open;
ALTER INDEX invitations_by_request RENAME TO link_requests_by_request;
ALTER INDEX invitations_by_msp RENAME TO link_requests_by_msp;
ALTER INDEX invitations_due RENAME TO link_requests_due;
ALTER INDEX invitations_opening RENAME TO link_requests_opening;
ALTER INDEX invitations_remind RENAME TO link_requests_remind;
