-- Version 4: each household's settings (sealed by the owner's device to the household's
-- members and agents, signed by the owner; the server only relays them) and each agent's
-- public key bundle (so the owner's device can seal settings to it).
CREATE TABLE settings (
  household_id TEXT PRIMARY KEY REFERENCES household (id) ON DELETE CASCADE,
  serial BIGINT NOT NULL,
  doc BYTEA NOT NULL,
  updated_ms BIGINT NOT NULL
);
ALTER TABLE device ADD COLUMN public_keys BYTEA;
