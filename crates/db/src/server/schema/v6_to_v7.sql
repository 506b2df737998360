-- Version 7: feeds look posts up by their exact areas (the resolution 5 `bucket` made a
-- village's feed read the whole town's posts); the operator can hide a post with a reason;
-- comments, reports, the contact relay, and the posting rules each account accepted.
DROP INDEX post_bucket_time;
ALTER TABLE post DROP COLUMN bucket;
ALTER TABLE post ADD COLUMN hidden_reason TEXT;
ALTER TABLE post ADD COLUMN hidden_ms BIGINT;
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
