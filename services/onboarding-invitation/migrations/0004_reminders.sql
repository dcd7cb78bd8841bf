-- The automatic reminder a day (configurable) before an invitation expires, sent once.
ALTER TABLE invitations ADD COLUMN reminder_sent boolean NOT NULL DEFAULT false;
CREATE INDEX invitations_remind ON invitations (expire_time) WHERE state = 1 AND NOT reminder_sent;
