-- Version 2: passkeys (WebAuthn credentials) as a second factor.
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
