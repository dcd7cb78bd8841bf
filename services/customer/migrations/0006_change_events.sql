-- Every committed change of an MSP's customer account becomes a `customer-changed` outbox
-- message in the same transaction, whichever statement made it: the relay publishes the
-- account's current state onto the change stream (msp.events.v1.CustomerChanged) for read
-- models. A trigger rather than code in each write path, so that no path can forget it.
CREATE FUNCTION customer_changed() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT
AS $$
DECLARE
  old_msp text := NULL;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF NEW.version = OLD.version THEN
      RETURN NULL;
    END IF;
    old_msp := OLD.msp_id;
  END IF;
  -- Existing Knox customers that no MSP manages, before and after, are nobody's table row.
  IF NEW.msp_id IS NULL AND old_msp IS NULL THEN
    RETURN NULL;
  END IF;
  INSERT INTO outbox (msp_id, topic, message_key, payload)
  VALUES (coalesce(NEW.msp_id, old_msp), 'customer-changed',
          NEW.customer_id || ':' || NEW.version, convert_to(NEW.customer_id, 'UTF8'));
  RETURN NULL;
END
$$;

CREATE TRIGGER customers_changed AFTER INSERT OR UPDATE ON customers
  FOR EACH ROW EXECUTE FUNCTION customer_changed();
