-- Porchlight recording index, schema version 1 (frozen: never edit; add vN_to_vN+1).
-- Times are 90 kHz units since the Unix epoch (`_90k`), sizes are bytes.

create table meta (
  schema_version integer not null,
  -- Written once at creation; lets `check` notice a database paired with the wrong folder.
  db_uuid text not null
);

create table camera (
  id integer primary key,
  name text not null unique
);

create table stream (
  id integer primary key,
  camera_id integer not null references camera (id),
  kind text not null check (kind in ('main', 'sub')),
  unique (camera_id, kind)
);

-- Codec parameters: the complete VisualSampleEntry box that goes into an MP4's stsd.
create table sample_entry (
  id integer primary key,
  codec text not null check (codec in ('h264', 'h265')),
  width integer not null check (width > 0),
  height integer not null check (height > 0),
  rfc6381_codec text not null,
  data blob not null unique
);

-- A run is one uninterrupted connection to a stream. Between runs lies a gap, and the
-- previous run's end_reason says why.
create table run (
  id integer primary key,
  stream_id integer not null references stream (id),
  start_90k integer not null,
  -- Null while the run is still being recorded (or when the agent crashed during it).
  end_90k integer,
  end_reason text
);

-- A segment is one file of consecutive frames of one run, starting with a key frame and
-- sharing one sample entry. Its file is `<streams dir>/<stream_id>/<id as 16 hex digits>`.
create table segment (
  id integer primary key,
  stream_id integer not null references stream (id),
  run_id integer not null references run (id),
  sample_entry_id integer not null references sample_entry (id),
  start_90k integer not null,
  duration_90k integer not null check (duration_90k >= 0),
  frames integer not null check (frames >= 0),
  key_frames integer not null check (key_frames >= 0),
  -- Bytes of the file covered by frame_index; after recovery the file is exactly this long.
  size_bytes integer not null check (size_bytes >= 0),
  -- 1 while frames are still being appended.
  open integer not null check (open in (0, 1)),
  -- Per-frame sizes, durations, key flags and pts offsets (media::index).
  frame_index blob not null
);

create index segment_stream_start on segment (stream_id, start_90k);
create index run_stream on run (stream_id, start_90k);
create index segment_run on segment (run_id);
-- Recovery looks only at open segments; this keeps it from scanning every row.
create index segment_open on segment (id) where open = 1;
