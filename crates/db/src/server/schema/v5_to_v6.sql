-- Version 6: neighbourhood posts, public to the feed around their area, which is a cell (never a
-- point) holding at least K households, chosen when the post is made. `bucket` is the
-- area's resolution 5 ancestor, which feed queries read newest first.
CREATE TABLE post (
  id TEXT PRIMARY KEY,
  household_id TEXT NOT NULL REFERENCES household (id) ON DELETE CASCADE,
  author_id TEXT NOT NULL REFERENCES account (id) ON DELETE CASCADE,
  category TEXT NOT NULL,
  body TEXT NOT NULL,
  area_cell BIGINT NOT NULL,
  bucket BIGINT NOT NULL,
  created_ms BIGINT NOT NULL,
  edited_ms BIGINT
);
CREATE INDEX post_bucket_time ON post (bucket, created_ms);
CREATE INDEX post_household ON post (household_id);
