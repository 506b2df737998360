-- Version 3: each household's roster (the owner-signed list of members' keys that its
-- agents seal new footage for), relayed from the owner's device to the agents.
CREATE TABLE roster (
  household_id TEXT PRIMARY KEY REFERENCES household (id) ON DELETE CASCADE,
  serial BIGINT NOT NULL,
  roster BYTEA NOT NULL,
  updated_ms BIGINT NOT NULL
);
