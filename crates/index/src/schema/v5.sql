-- Porchlight recording index, schema version 5 (frozen: never edit; add vN_to_vN+1).
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
  -- 'audio': the sound of the camera's main stream, recorded only where the owner turns it
  -- on (`audio.record`), on the same clock as the video (design/recording.md).
  kind text not null check (kind in ('main', 'sub', 'audio')),
  unique (camera_id, kind)
);

-- Codec parameters: the complete VisualSampleEntry or AudioSampleEntry box that goes into
-- an MP4's stsd. Sound has no picture: its width and height are 0.
create table sample_entry (
  id integer primary key,
  codec text not null check (codec in ('h264', 'h265', 'aac', 'pcmu', 'pcma', 'l16', 'opus')),
  width integer not null check (width >= 0),
  height integer not null check (height >= 0),
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

-- EVENT_TABLE_START (v2 -> v3 renames the old table, runs exactly this part and copies)
-- An event: something the agent saw (a person, a vehicle, unclassified motion) or was told
-- (a doorbell press, a sensor). Kept here until the server has it.
create table event (
  id integer primary key,
  camera_id integer not null references camera (id),
  kind text not null check (kind in ('person', 'vehicle', 'animal', 'package', 'motion', 'doorbell', 'sensor')),
  -- The detector's label ("car"), the sensor's name, or the kind again.
  label text not null,
  start_90k integer not null,
  end_90k integer not null check (end_90k >= start_90k),
  -- Object events: the best track's median detector score (0..1); others 0.
  score real not null check (score >= 0 and score <= 1),
  -- Motion zones it touched, comma-separated ('' for none).
  zones text not null,
  -- The clip is this range of the camera's main stream: the event with pre- and post-roll.
  clip_start_90k integer not null,
  clip_end_90k integer not null check (clip_end_90k >= clip_start_90k),
  -- The snapshot, `<data>/snapshots/<id>.jpg`, when there is one; its object's box in
  -- fractions of the frame, "x0,y0,x1,y1", for object events.
  has_snapshot integer not null check (has_snapshot in (0, 1)),
  box text,
  -- 1 once the server has stored it (the server issue).
  uploaded integer not null default 0 check (uploaded in (0, 1)),
  -- 1 while the event goes on: stored when it began, so that its start is alerted at once;
  -- its end, label, score, zones, clip range and snapshot are filled in when it ends.
  open integer not null default 0 check (open in (0, 1)),
  -- 1 once its start has been sealed for the server (or when there is none to send).
  start_sealed integer not null default 1 check (start_sealed in (0, 1)),
  -- The event this one continues: a visit longer than the maximum event length.
  continues integer references event (id) on delete set null
);

create index event_camera_start on event (camera_id, start_90k);
create index event_not_uploaded on event (id) where uploaded = 0;
create index event_start_unsealed on event (id) where start_sealed = 0;
