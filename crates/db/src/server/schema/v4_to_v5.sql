-- Version 5: each household's home: its H3 cell at resolution 8 (from the browser, which keeps the
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
