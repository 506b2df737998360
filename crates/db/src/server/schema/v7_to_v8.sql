-- Version 8: photos and clips on neighbourhood posts.
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
