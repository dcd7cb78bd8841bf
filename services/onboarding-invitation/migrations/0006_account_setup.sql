-- Account-set-up emails of new jointly managed customers (kind 3) use the same rows and relay;
-- they do not block invitations or delink requests of the customer.
DROP INDEX invitations_one_open;
CREATE UNIQUE INDEX invitations_one_open ON invitations (customer_id)
  WHERE state IN (0, 1) AND kind IN (1, 2);
