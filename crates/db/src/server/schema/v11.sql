-- Porchlight server metadata, schema version 11 (frozen: change it only through an
-- upgrade). Written in the dialect both SQLite and PostgreSQL accept: BYTEA below is
-- rewritten to BLOB for SQLite by `server::schema`. Every id is 32 lower-case hex digits
-- chosen by the server or, for objects and events, by the recording device; every time is
-- milliseconds since the Unix epoch (`_ms`). What each plaintext column is for, and why
-- the server needs it, is design/server.md.

CREATE TABLE meta (
  version BIGINT NOT NULL
);

CREATE TABLE account (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  totp_secret BYTEA,
  totp_confirmed BIGINT NOT NULL DEFAULT 0,
  totp_last_step BIGINT NOT NULL DEFAULT 0,
  public_keys BYTEA,
  key_backup BYTEA,
  created_ms BIGINT NOT NULL
);

-- A passkey: the credential webauthn-rs verifies against (public key, counter, flags) as
-- JSON; `credential_id` (base64url) is unique across accounts.
CREATE TABLE passkey (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
  credential_id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  credential TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  last_used_ms BIGINT
);
CREATE INDEX passkey_account ON passkey (account_id);

CREATE TABLE session (
  id_hash TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
  csrf TEXT NOT NULL,
  mfa_done BIGINT NOT NULL,
  created_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL
);
CREATE INDEX session_account ON session (account_id);

CREATE TABLE household (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  owner_id TEXT NOT NULL REFERENCES account (id),
  retention_days BIGINT NOT NULL,
  retention_bytes BIGINT NOT NULL,
  webhook_url TEXT,
  created_ms BIGINT NOT NULL,
  webhook_secret TEXT
);

CREATE TABLE member (
  household_id TEXT NOT NULL REFERENCES household (id) ON DELETE CASCADE,
  account_id TEXT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
  role TEXT NOT NULL CHECK (role IN ('owner', 'full', 'standard', 'limited', 'guest')),
  window_from_ms BIGINT,
  window_until_ms BIGINT,
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (household_id, account_id)
);
CREATE INDEX member_account ON member (account_id);

CREATE TABLE invitation (
  token_hash TEXT PRIMARY KEY,
  household_id TEXT NOT NULL REFERENCES household (id) ON DELETE CASCADE,
  role TEXT NOT NULL CHECK (role IN ('full', 'standard', 'limited', 'guest')),
  window_from_ms BIGINT,
  window_until_ms BIGINT,
  created_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL,
  used_by TEXT
);

CREATE TABLE pairing (
  token_hash TEXT PRIMARY KEY,
  household_id TEXT NOT NULL REFERENCES household (id) ON DELETE CASCADE,
  created_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL,
  device_id TEXT
);

CREATE TABLE device (
  id TEXT PRIMARY KEY,
  household_id TEXT NOT NULL REFERENCES household (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  identity BYTEA NOT NULL,
  paired_ms BIGINT NOT NULL,
  revoked_ms BIGINT,
  public_keys BYTEA
);
CREATE INDEX device_household ON device (household_id);

CREATE TABLE api_token (
  id TEXT PRIMARY KEY,
  secret_hash TEXT NOT NULL,
  account_id TEXT REFERENCES account (id) ON DELETE CASCADE,
  device_id TEXT REFERENCES device (id) ON DELETE CASCADE,
  label TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  CHECK ((account_id IS NULL) <> (device_id IS NULL))
);

CREATE TABLE chunk (
  hash TEXT PRIMARY KEY,
  household_id TEXT NOT NULL,
  size_bytes BIGINT NOT NULL,
  created_ms BIGINT NOT NULL
);

CREATE TABLE object (
  id TEXT PRIMARY KEY,
  household_id TEXT NOT NULL REFERENCES household (id),
  device_id TEXT NOT NULL REFERENCES device (id),
  camera TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('clip', 'snapshot', 'thumbnail', 'event')),
  start_ms BIGINT NOT NULL,
  end_ms BIGINT NOT NULL,
  size_bytes BIGINT NOT NULL,
  created_ms BIGINT NOT NULL
);
CREATE INDEX object_household_camera_start ON object (household_id, camera, start_ms);

CREATE TABLE object_chunk (
  object_id TEXT NOT NULL REFERENCES object (id) ON DELETE CASCADE,
  seq BIGINT NOT NULL,
  hash TEXT NOT NULL,
  PRIMARY KEY (object_id, seq)
);
CREATE INDEX object_chunk_hash ON object_chunk (hash);

CREATE TABLE event (
  id TEXT PRIMARY KEY,
  household_id TEXT NOT NULL REFERENCES household (id),
  device_id TEXT NOT NULL REFERENCES device (id),
  camera TEXT NOT NULL,
  start_ms BIGINT NOT NULL,
  end_ms BIGINT NOT NULL,
  meta_object TEXT NOT NULL REFERENCES object (id),
  snapshot_object TEXT REFERENCES object (id),
  clip_object TEXT REFERENCES object (id),
  size_bytes BIGINT NOT NULL,
  created_ms BIGINT NOT NULL,
  in_progress BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX event_household_camera_start ON event (household_id, camera, start_ms, id);
CREATE INDEX event_household_start ON event (household_id, start_ms, id);

CREATE TABLE camera_retention (
  household_id TEXT NOT NULL REFERENCES household (id) ON DELETE CASCADE,
  camera TEXT NOT NULL,
  retention_days BIGINT NOT NULL,
  retention_bytes BIGINT NOT NULL,
  PRIMARY KEY (household_id, camera)
);

CREATE TABLE doomed_chunk (
  hash TEXT PRIMARY KEY,
  since_ms BIGINT NOT NULL
);

CREATE TABLE access_log (
  id TEXT PRIMARY KEY,
  household_id TEXT NOT NULL,
  account_id TEXT,
  device_id TEXT,
  object_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  at_ms BIGINT NOT NULL
);
CREATE INDEX access_log_household_at ON access_log (household_id, at_ms);

CREATE TABLE security_event (
  id TEXT PRIMARY KEY,
  account_id TEXT,
  kind TEXT NOT NULL,
  ip TEXT NOT NULL,
  detail TEXT NOT NULL,
  at_ms BIGINT NOT NULL
);
CREATE INDEX security_event_account_at ON security_event (account_id, at_ms);


-- Each household's roster (the owner-signed list of members' keys that its agents seal
-- new footage for), relayed from the owner's device to the agents.
CREATE TABLE roster (
  household_id TEXT PRIMARY KEY REFERENCES household (id) ON DELETE CASCADE,
  serial BIGINT NOT NULL,
  roster BYTEA NOT NULL,
  updated_ms BIGINT NOT NULL
);

-- Each household's settings (sealed by the owner's device to the household's members and
-- agents, signed by the owner; the server only relays them).
CREATE TABLE settings (
  household_id TEXT PRIMARY KEY REFERENCES household (id) ON DELETE CASCADE,
  serial BIGINT NOT NULL,
  doc BYTEA NOT NULL,
  updated_ms BIGINT NOT NULL
);

-- Each household's home: its H3 cell at resolution 8 (from the browser, which keeps the
-- exact point) and that cell's ancestors at resolutions 7, 6 and 5 (as signed 64-bit
-- integers; H3 indexes leave the top bit clear), for counting households in a post's
-- area. The exact point is here only sealed for the household's own keys.
CREATE TABLE home (
  household_id TEXT PRIMARY KEY REFERENCES household (id) ON DELETE CASCADE,
  cell8 BIGINT NOT NULL,
  cell7 BIGINT NOT NULL,
  cell6 BIGINT NOT NULL,
  cell5 BIGINT NOT NULL,
  sealed_point BYTEA NOT NULL,
  updated_ms BIGINT NOT NULL
);
CREATE INDEX home_cell8 ON home (cell8);
CREATE INDEX home_cell7 ON home (cell7);
CREATE INDEX home_cell6 ON home (cell6);
CREATE INDEX home_cell5 ON home (cell5);

-- Neighbourhood posts: public to the feed around their area, which is a cell (never a
-- point) holding at least K households, chosen when the post is made. Feeds look posts up
-- by the exact set of areas they accept, newest first: area by area (`post_area_time`)
-- when those areas hold few posts, else through all posts by time (`post_time`). A post the
-- operator hid keeps its row, with the reason its author is shown.
CREATE TABLE post (
  id TEXT PRIMARY KEY,
  household_id TEXT NOT NULL REFERENCES household (id) ON DELETE CASCADE,
  author_id TEXT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
  category TEXT NOT NULL,
  body TEXT NOT NULL,
  area_cell BIGINT NOT NULL,
  created_ms BIGINT NOT NULL,
  edited_ms BIGINT,
  hidden_reason TEXT,
  hidden_ms BIGINT
);
CREATE INDEX post_household ON post (household_id);
CREATE INDEX post_area_time ON post (area_cell, created_ms, id);
CREATE INDEX post_time ON post (created_ms, id, area_cell);
CREATE INDEX post_author_time ON post (author_id, created_ms);

-- Comments on posts. Readers see an alias, never an account: 0 is the post's author, 1, 2,
-- … the other commenters in the order they first commented on that post.
CREATE TABLE post_comment (
  id TEXT PRIMARY KEY,
  post_id TEXT NOT NULL REFERENCES post (id) ON DELETE CASCADE,
  author_id TEXT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
  alias BIGINT NOT NULL,
  body TEXT NOT NULL,
  created_ms BIGINT NOT NULL
);
CREATE INDEX post_comment_post ON post_comment (post_id, created_ms);
CREATE INDEX post_comment_author_time ON post_comment (author_id, created_ms);

-- Reports of posts for the operator's moderation queue: one per account and post.
CREATE TABLE post_report (
  post_id TEXT NOT NULL REFERENCES post (id) ON DELETE CASCADE,
  reporter_id TEXT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
  reason TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (post_id, reporter_id)
);
CREATE INDEX post_report_reporter_time ON post_report (reporter_id, created_ms);

-- The contact relay: a private thread between a post's author and one neighbour who wrote
-- to them about it. Neither learns the other's account; `reveal` holds contact details the
-- sender of that message chose to share (NULL when they did not).
CREATE TABLE relay_thread (
  id TEXT PRIMARY KEY,
  post_id TEXT NOT NULL REFERENCES post (id) ON DELETE CASCADE,
  asker_id TEXT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
  created_ms BIGINT NOT NULL,
  UNIQUE (post_id, asker_id)
);
CREATE INDEX relay_thread_asker_time ON relay_thread (asker_id, created_ms);
CREATE TABLE relay_message (
  id TEXT PRIMARY KEY,
  thread_id TEXT NOT NULL REFERENCES relay_thread (id) ON DELETE CASCADE,
  from_author BIGINT NOT NULL,
  body TEXT NOT NULL,
  reveal TEXT,
  created_ms BIGINT NOT NULL
);
CREATE INDEX relay_message_thread ON relay_message (thread_id, created_ms);

-- Which version of the posting rules (a hash of their text) each account accepted before
-- its first post.
CREATE TABLE rules_accepted (
  account_id TEXT PRIMARY KEY REFERENCES account (id) ON DELETE CASCADE,
  rules_hash TEXT NOT NULL,
  accepted_ms BIGINT NOT NULL
);


-- Photos and clips attached to posts. The bytes are one chunk in the blob store (named by
-- their SHA-256, `hash`); a row with no post is an upload waiting for its post, and
-- expires. A clip is accepted only if the household's agent prepared it (redacted) and
-- declared its hash; a photo only as a JPEG without metadata segments.
CREATE TABLE post_media (
  id TEXT PRIMARY KEY,
  household_id TEXT NOT NULL REFERENCES household (id) ON DELETE CASCADE,
  account_id TEXT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
  post_id TEXT REFERENCES post (id) ON DELETE CASCADE,
  position BIGINT NOT NULL,
  kind TEXT NOT NULL,
  hash TEXT NOT NULL,
  size_bytes BIGINT NOT NULL,
  created_ms BIGINT NOT NULL
);
CREATE INDEX post_media_post ON post_media (post_id, position);
CREATE INDEX post_media_account_time ON post_media (account_id, created_ms);
CREATE INDEX post_media_hash ON post_media (hash);


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

-- Since version 10: identity keys bound to one account, footage requests offered to the homes
-- that existed when they were made, and every move of a home counted (design/agencies.md,
-- design/threat-model.md).

-- Every identity key an account has uploaded, bound to that account for good: no other
-- account may upload a bundle with the same identity (an impostor agency would show the
-- operator the real agency's fingerprint). The identity is bytes 6 to 37 of the bundle
-- (design/crypto-format.md); where two accounts already share one, the first keeps it.
CREATE TABLE account_identity (
  identity BYTEA PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
  created_ms BIGINT NOT NULL
);
CREATE INDEX account_identity_account ON account_identity (account_id);

-- The households a footage request is offered to: those whose home was in its area when it
-- was made. A home set or moved later never sees it.
CREATE TABLE footage_request_home (
  request_id TEXT NOT NULL REFERENCES footage_request (id) ON DELETE CASCADE,
  household_id TEXT NOT NULL REFERENCES household (id) ON DELETE CASCADE,
  PRIMARY KEY (request_id, household_id)
);
CREATE INDEX footage_request_home_household ON footage_request_home (household_id);

-- Each time a household's home moved to another cell, for the limit on moves.
CREATE TABLE home_move (
  household_id TEXT NOT NULL REFERENCES household (id) ON DELETE CASCADE,
  moved_ms BIGINT NOT NULL
);
CREATE INDEX home_move_household ON home_move (household_id, moved_ms);

-- Failed sign-in steps per account and source (a client address, an IPv6 /64): from the
-- server's limit of failures a source is locked out of that account for a while, and only
-- that source, so that nobody can lock another person out by failing on purpose. The row
-- goes when the source signs in, and the sweeper deletes expired ones.
CREATE TABLE sign_in_failure (
  account_id TEXT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
  source TEXT NOT NULL,
  failures BIGINT NOT NULL,
  locked_until_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  PRIMARY KEY (account_id, source)
);
CREATE INDEX sign_in_failure_updated ON sign_in_failure (updated_ms);

-- A member's browser subscribed to Web Push for a household (RFC 8030): where the push
-- service takes messages for it, the keys they are encrypted to (RFC 8291), and which
-- cameras alert it ('*': all). One per household and endpoint (a browser profile).
CREATE TABLE push_subscription (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
  household_id TEXT NOT NULL REFERENCES household (id) ON DELETE CASCADE,
  endpoint TEXT NOT NULL,
  p256dh TEXT NOT NULL,
  auth TEXT NOT NULL,
  cameras TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  UNIQUE (household_id, endpoint)
);
CREATE INDEX push_subscription_account ON push_subscription (account_id);

INSERT INTO meta (version) VALUES (11);
