-- Delink requests share the invitations table (the same lifecycle: opening, one email link,
-- resend throttle, an answer): kind 1 is an invitation, 2 a delink request. A delink request
-- uses state 1 for REQUESTED and 4 for REVOKED, and has no expiry of its own (its link does).
ALTER TABLE invitations ADD COLUMN kind smallint NOT NULL DEFAULT 1;
ALTER TABLE invitations ALTER COLUMN management_type SET DEFAULT 0;
ALTER TABLE invitations ALTER COLUMN services SET DEFAULT '{}';
DROP INDEX invitations_due;
CREATE INDEX invitations_due ON invitations (expire_time) WHERE state = 1 AND kind = 1;
