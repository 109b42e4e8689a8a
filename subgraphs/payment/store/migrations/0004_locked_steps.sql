-- The two changes of the checkout's payment steps, each under the order's lock in one
-- statement of the caller, so that outside a transaction each is one round trip. The lock
-- (lock-order-payment, as PaymentStore.inOrderTransaction takes it) comes first and the work
-- is a statement of its own after it: a VOLATILE function takes a fresh snapshot for each of
-- its statements, so the work sees every change of the order committed before the lock was
-- granted. Inside a transaction that holds the lock already, taking it again is immediate.

-- accept-payment-intent: records the message and stores the intent unless the order has one;
-- its token only while the order has neither a closure nor a payment. True when the message
-- was new; false when it was handled before, and nothing was written.
CREATE FUNCTION "payment"."accept_payment_intent"(
  p_consumer text, p_message_id text, p_order_id text, p_customer_id text, p_amount integer, p_currency char(3), p_token text
) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  accepted boolean;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('payment:' || p_order_id, 0));
  WITH processed AS (
    INSERT INTO "payment"."processed_messages" (consumer, message_id) VALUES (p_consumer, p_message_id)
    ON CONFLICT DO NOTHING
    RETURNING message_id
  ), saved AS (
    INSERT INTO "payment"."payment_intents" (order_id, customer_id, amount, currency, token)
    SELECT p_order_id, p_customer_id, p_amount, p_currency,
      CASE
        WHEN EXISTS (SELECT 1 FROM "payment"."order_closures" c WHERE c.order_id = p_order_id) THEN NULL
        WHEN EXISTS (SELECT 1 FROM "payment"."payments" p WHERE p.order_id = p_order_id) THEN NULL
        ELSE p_token
      END
    FROM processed
    ON CONFLICT (order_id) DO NOTHING
  )
  SELECT EXISTS (SELECT FROM processed) INTO accepted;
  RETURN accepted;
END
$$;
--> statement-breakpoint

-- record-authorization-decision: everything a decision changes, only while the order is open
-- (no payment, no closure) and only the first time the message comes: the message, the
-- payment, the token forgotten and the announcement in the outbox, in the order given.
-- Answers whether the order was open, the message new and the payment written; fails when
-- the message was new and the payment could not be written.
CREATE FUNCTION "payment"."record_authorization_decision"(
  p_consumer text, p_message_id text,
  p_id text, p_order_id text, p_customer_id text, p_status text, p_amount integer, p_captured_amount integer,
  p_refunded_amount integer, p_currency char(3), p_method_brand text, p_method_last4 char(4), p_failure_code text,
  p_provider_reference text, p_created_at timestamptz, p_updated_at timestamptz,
  p_event_ids text[], p_event_types text[], p_event_aggregate_ids text[], p_event_occurred_ats text[],
  p_event_payloads text[], p_event_request_ids text[],
  OUT was_open boolean, OUT was_new boolean, OUT was_created boolean
) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('payment:' || p_order_id, 0));
  WITH open AS (
    SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM "payment"."payments" p WHERE p.order_id = p_order_id)
      AND NOT EXISTS (SELECT 1 FROM "payment"."order_closures" c WHERE c.order_id = p_order_id)
  ), processed AS (
    INSERT INTO "payment"."processed_messages" (consumer, message_id) SELECT p_consumer, p_message_id FROM open
    ON CONFLICT DO NOTHING
    RETURNING 1
  ), created AS (
    INSERT INTO "payment"."payments" (id, order_id, customer_id, status, amount, captured_amount, refunded_amount, currency,
      method_brand, method_last4, failure_code, provider_reference, created_at, updated_at)
    SELECT p_id, p_order_id, p_customer_id, p_status, p_amount, p_captured_amount, p_refunded_amount, p_currency,
      p_method_brand, p_method_last4, p_failure_code, p_provider_reference, p_created_at, p_updated_at
    FROM processed
    ON CONFLICT (order_id) DO NOTHING
    RETURNING 1
  ), forgotten AS (
    UPDATE "payment"."payment_intents" i SET token = NULL WHERE i.order_id = p_order_id AND EXISTS (SELECT 1 FROM created)
  ), announced AS (
    INSERT INTO "payment"."outbox" (id, type, aggregate_id, occurred_at, payload, request_id)
    SELECT e.id, e.type, e.aggregate_id, e.occurred_at::timestamptz, e.payload::jsonb, e.request_id
    FROM unnest(p_event_ids, p_event_types, p_event_aggregate_ids, p_event_occurred_ats, p_event_payloads, p_event_request_ids)
      WITH ORDINALITY AS e(id, type, aggregate_id, occurred_at, payload, request_id, ordinal)
    WHERE EXISTS (SELECT 1 FROM created)
    ORDER BY e.ordinal
  )
  SELECT EXISTS (SELECT FROM open), EXISTS (SELECT FROM processed), EXISTS (SELECT FROM created)
  INTO was_open, was_new, was_created;
  -- Only a payment written without the order's lock gets here: fail, so that nothing of this
  -- statement stays (the message is not recorded) and the redelivery sees that payment.
  IF was_new AND NOT was_created THEN
    RAISE EXCEPTION 'payment of order % appeared while its decision was recorded', p_order_id;
  END IF;
END
$$;
