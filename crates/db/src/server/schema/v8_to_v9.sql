-- Version 9: the transparency log, agencies and footage requests (design/transparency-log.md,
-- design/agencies.md).

-- The log's size: one row, updated in every append's transaction, which serializes appends
-- (the row lock on PostgreSQL, the write lock on SQLite).
CREATE TABLE log_state (
  id BIGINT PRIMARY KEY,
  size BIGINT NOT NULL
);
INSERT INTO log_state (id, size) VALUES (1, 0);

-- The entries, public in full: `body` is the JSON text whose UTF-8 bytes are the leaf.
CREATE TABLE log_entry (
  idx BIGINT PRIMARY KEY,
  kind TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  body TEXT NOT NULL
);
CREATE INDEX log_entry_kind ON log_entry (kind, idx);

-- The hash of every complete subtree, written in the transaction of the entry that
-- completes it: level 0 is the leaf hashes.
CREATE TABLE log_node (
  level BIGINT NOT NULL,
  idx BIGINT NOT NULL,
  hash BYTEA NOT NULL,
  PRIMARY KEY (level, idx)
);

-- Every head the server signed, one per size: what it told the world, kept.
CREATE TABLE log_head (
  size BIGINT PRIMARY KEY,
  signed BYTEA NOT NULL,
  created_ms BIGINT NOT NULL
);

-- Agencies: an account that applied, and once the operator verified it out of band, the
-- public keys that were logged with the verification (no other key of theirs is ever used).
CREATE TABLE agency (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL UNIQUE REFERENCES account (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  jurisdiction TEXT NOT NULL,
  website TEXT NOT NULL,
  phone TEXT NOT NULL,
  applied_ms BIGINT NOT NULL,
  public_keys BYTEA,
  verified_ms BIGINT,
  verified_log_index BIGINT,
  rejected_reason TEXT
);

-- Footage requests, public in the log when made. `area` is the JSON the agency sent
-- (circle or polygon); `cells` the home cells it touches, for delivery.
CREATE TABLE footage_request (
  id TEXT PRIMARY KEY,
  agency_id TEXT NOT NULL REFERENCES agency (id) ON DELETE CASCADE,
  case_number TEXT NOT NULL,
  category TEXT NOT NULL,
  description TEXT NOT NULL,
  investigator TEXT NOT NULL,
  area TEXT NOT NULL,
  area_m2 BIGINT NOT NULL,
  window_from_ms BIGINT NOT NULL,
  window_until_ms BIGINT NOT NULL,
  created_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL,
  households_offered BIGINT NOT NULL,
  log_index BIGINT NOT NULL,
  expired_log_index BIGINT
);
CREATE INDEX footage_request_agency ON footage_request (agency_id, created_ms);
CREATE INDEX footage_request_case ON footage_request (agency_id, case_number);
CREATE INDEX footage_request_expiry ON footage_request (expired_log_index, expires_ms);

-- The home cells (resolution 8, as in `home`) each request touches: a household is offered
-- the requests of its cell; its own device then checks its exact point.
CREATE TABLE footage_request_cell (
  cell8 BIGINT NOT NULL,
  request_id TEXT NOT NULL REFERENCES footage_request (id) ON DELETE CASCADE,
  PRIMARY KEY (cell8, request_id)
);

-- Answers to footage requests. The server knows which household answered (it stores the
-- household's ciphertext); the agency and the public see only "Resident N" (numbered per
-- request) and, if the owner chose to give it, a contact.
CREATE TABLE footage_response (
  id TEXT PRIMARY KEY,
  request_id TEXT NOT NULL REFERENCES footage_request (id) ON DELETE CASCADE,
  household_id TEXT NOT NULL REFERENCES household (id) ON DELETE CASCADE,
  resident_no BIGINT NOT NULL,
  contact TEXT,
  created_ms BIGINT NOT NULL,
  log_index BIGINT NOT NULL
);
CREATE UNIQUE INDEX footage_response_resident ON footage_response (request_id, resident_no);

-- Each clip shared: the owner's signed grant, which wraps the clip's content key for the
-- agency's logged key. The only way an agency reads a clip.
CREATE TABLE footage_grant (
  response_id TEXT NOT NULL REFERENCES footage_response (id) ON DELETE CASCADE,
  object_id TEXT NOT NULL,
  agency_id TEXT NOT NULL REFERENCES agency (id) ON DELETE CASCADE,
  grant_bytes BYTEA NOT NULL,
  duration_ms BIGINT NOT NULL,
  PRIMARY KEY (response_id, object_id)
);
CREATE INDEX footage_grant_object ON footage_grant (object_id, agency_id);

-- The chain of custody: every download and evidence export by an agency's account.
CREATE TABLE agency_access (
  id TEXT PRIMARY KEY,
  agency_id TEXT NOT NULL REFERENCES agency (id) ON DELETE CASCADE,
  account_id TEXT NOT NULL,
  request_id TEXT NOT NULL,
  object_id TEXT,
  action TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  seq BIGINT NOT NULL
);
CREATE INDEX agency_access_request ON agency_access (request_id, created_ms, seq);

-- Agencies' safety alerts, public to the neighbourhood feeds whose home cells the circle
-- touches, until they expire.
CREATE TABLE agency_alert (
  id TEXT PRIMARY KEY,
  agency_id TEXT NOT NULL REFERENCES agency (id) ON DELETE CASCADE,
  body TEXT NOT NULL,
  lat DOUBLE PRECISION NOT NULL,
  lon DOUBLE PRECISION NOT NULL,
  radius_m DOUBLE PRECISION NOT NULL,
  created_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL
);
CREATE INDEX agency_alert_expiry ON agency_alert (expires_ms);
CREATE INDEX agency_alert_agency ON agency_alert (agency_id, created_ms);

-- Households per home cell, kept by the transaction that sets a home (households are never
-- deleted): a footage request's households offered is a sum over a few rows.
CREATE TABLE home_count (
  cell8 BIGINT PRIMARY KEY,
  n BIGINT NOT NULL
);
INSERT INTO home_count (cell8, n) SELECT cell8, COUNT(*) FROM home GROUP BY cell8;
