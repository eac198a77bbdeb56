-- Delivery states of the outbox (package mqttlink, docs/mqtt.md):
-- pending (acked_at and sent_at NULL) -> acknowledged (PUBACK, acked_at) ->
-- delivered (sent_at: the message came back on the device's own
-- subscription, or the PUBACK when delivery confirmation is off).
-- A row refused again and again is parked: kept, flagged, tried again from
-- retry_at, while the rows behind it flow.
ALTER TABLE outbox ADD COLUMN acked_at INTEGER;        -- unix ms of the PUBACK
ALTER TABLE outbox ADD COLUMN unconfirmed_at INTEGER;  -- acknowledged but not seen back within the echo timeout
ALTER TABLE outbox ADD COLUMN parked_at INTEGER;       -- parked after repeated refusals
ALTER TABLE outbox ADD COLUMN retry_at INTEGER;        -- a parked row is not tried before this
