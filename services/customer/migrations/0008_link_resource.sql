-- Which resource a customer's link_id names (1 an invitation, 2 a delink request). The state
-- alone cannot tell: after a delink request is revoked or rejected the customer is ACTIVE again
-- and its link is that request, not an invitation of the same id.
ALTER TABLE customers ADD COLUMN link_resource smallint NOT NULL DEFAULT 0;
UPDATE customers c
SET link_resource = CASE WHEN EXISTS (
      SELECT 1 FROM customer_events e
      WHERE e.customer_id = c.customer_id AND e.request_id = c.link_id
        AND e.action = 'DELINK_REQUESTED') THEN 2 ELSE 1 END,
    version = version + 1
WHERE link_id <> '';

-- Upgrades to jointly managed used to leave the super admin without portal access.
UPDATE customers SET super_admin_portal_access = true, version = version + 1
WHERE msp_id IS NOT NULL AND management_type = 2 AND NOT super_admin_portal_access;
