-- Version 11: an event's start arrives while it goes on, and the finished event replaces it
-- (design/server.md, "Events in progress"); browsers subscribe to Web Push ("Push").
ALTER TABLE event ADD COLUMN in_progress BIGINT NOT NULL DEFAULT 0;

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
