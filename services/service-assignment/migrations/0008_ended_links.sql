-- Customers whose services an MSP's delink ended. A new customer's services are assigned from
-- the customer as the customer service had it a moment before (BatchAssignServices): one that
-- arrives after the delink ended the services finds the customer here and is refused, instead
-- of adding services the delink had ended. Both take the customer's advisory lock, so one of
-- them sees the other's commit.
CREATE TABLE ended_links (
  customer_id text NOT NULL,
  msp_id      text NOT NULL,
  end_time    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (customer_id, msp_id)
);
