-- `GET /v1/rows?device=D&since=T` (a reader catching up on one device):
-- a range on this index, instead of every row of the device in seq order.
CREATE INDEX rows_device_measured ON rows (device_id, measured_at_us);
