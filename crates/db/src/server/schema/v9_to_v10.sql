-- Version 10: identity keys bound to one account, footage requests offered to the homes
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
INSERT INTO account_identity (identity, account_id, created_ms)
  SELECT substr(public_keys, 6, 32), id, created_ms FROM account WHERE public_keys IS NOT NULL ORDER BY created_ms
  ON CONFLICT (identity) DO NOTHING;

-- The households a footage request is offered to: those whose home was in its area when it
-- was made. A home set or moved later never sees it.
CREATE TABLE footage_request_home (
  request_id TEXT NOT NULL REFERENCES footage_request (id) ON DELETE CASCADE,
  household_id TEXT NOT NULL REFERENCES household (id) ON DELETE CASCADE,
  PRIMARY KEY (request_id, household_id)
);
CREATE INDEX footage_request_home_household ON footage_request_home (household_id);
INSERT INTO footage_request_home (request_id, household_id)
  SELECT c.request_id, h.household_id FROM footage_request_cell c JOIN home h ON h.cell8 = c.cell8;

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
-- The account-wide counters it replaces: five wrong passwords from anyone locked the account
-- for everyone.
ALTER TABLE account DROP COLUMN failed_logins;
ALTER TABLE account DROP COLUMN locked_until_ms;

-- The key each household's webhook deliveries are signed with (HMAC-SHA256), made when a
-- webhook is first set; the owner sees it in the household's settings.
ALTER TABLE household ADD COLUMN webhook_secret TEXT;
