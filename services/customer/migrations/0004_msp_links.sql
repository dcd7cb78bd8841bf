-- A customer's link with an MSP (invitations and delink requests, driven by the onboarding
-- service): the invitation or delink request its state belongs to, and whether its super
-- admin may use the Knox portals (not while fully managed).
ALTER TABLE customers
  ADD COLUMN link_id text NOT NULL DEFAULT '',
  ADD COLUMN super_admin_portal_access boolean NOT NULL DEFAULT true;
-- Customers created by MSPs before this migration: fully managed ones never had access.
UPDATE customers SET super_admin_portal_access = (management_type = 2) WHERE msp_id IS NOT NULL;
