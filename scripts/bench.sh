#!/usr/bin/env bash
# Whole-system benchmarks (figures go in BENCHMARKS.md). Needs `make setup` and a release build.
#   scripts/bench.sh            # ingest (32 and 64 streams), export, recovery
#   BENCH=ingest scripts/bench.sh   (or export, crypto, detect, objects, redact, recovery, upload, timeline, feed, agencies, web, scroll,
#                                    alerts, history, grid, talk, sound, mouth, avsync,
#                                    ingest-audio)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
bin=./target/release/porchlight
scratch=${BENCH_DIR:-/tmp/porchlight-bench}
mkdir -p "$scratch"
what=${BENCH:-all}

# A private PostgreSQL (as the postgres user when root: it refuses to run as root), kept
# in $scratch/pg between runs; sets $pgport and $pg.
start_pg() {
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  pgdir=$scratch/pg; pgport=55433
  as_pg=""; [ "$(id -u)" = 0 ] && as_pg="runuser -u postgres --"
  if [ ! -d "$pgdir/data" ]; then
    mkdir -p "$pgdir"; chmod 0777 "$pgdir"
    $as_pg "$pgbin/initdb" -A trust -U postgres --no-sync -D "$pgdir/data" > /dev/null
  fi
  $as_pg "$pgbin/postgres" -D "$pgdir/data" -p $pgport -k "$pgdir" -c listen_addresses=127.0.0.1 \
    -c shared_buffers=512MB > "$pgdir/log" 2>&1 &
  pg=$!
  trap 'kill $pg 2>/dev/null || true' EXIT
  for _ in $(seq 50); do psql -h 127.0.0.1 -p $pgport -U postgres -c 'select 1' > /dev/null 2>&1 && break; sleep 0.2; done
}


if [ "$what" = all ] || [ "$what" = ingest ]; then
  # 1080p30 H.264 at 4 Mbit/s: 60 s encoded once, then looped to 20 min by stream copy, so
  # the RTSP server only demuxes and packetizes (no encoding while we measure). One pipeline
  # per client: gst-rtsp-server 1.22 aborts (gst_rtsp_media_get_rates) with a shared media
  # and many concurrent clients.
  clip=$scratch/1080p30-4M.mp4
  long=$scratch/1080p30-4M-20min.mp4
  if [ ! -s "$long" ]; then
    ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=60" \
      -c:v libx264 -preset veryfast -profile:v high -b:v 4M -maxrate 4M -bufsize 8M -g 60 -bf 0 \
      -pix_fmt yuv420p "$clip"
    ffmpeg -hide_banner -loglevel error -y -stream_loop 19 -i "$clip" -c copy "$long"
  fi
  port=18654
  /usr/bin/python3 tests/rtsp_server.py --port $port --mount "/cam=$long" > "$scratch/server.log" 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  sleep 2
  for n in ${STREAMS:-32 64}; do
    $bin bench ingest --url "rtsp://127.0.0.1:$port/cam" --streams "$n" --seconds "${SECONDS_MEASURED:-60}" \
      --data-dir "$scratch/ingest-$n" 2>>"$scratch/ingest.log"
  done
  kill $server 2>/dev/null || true
fi

if [ "$what" = ingest-audio ]; then
  # Recording with a camera's sound beside 1080p30 video against the same video alone:
  # the same file (the 20-minute 1080p30 loop plus AAC-LC: SOUND="RATE CHANNELS BITRATE",
  # default "16000 1 32k", a doorbell's usual; "48000 2 128k" is the upper end of what
  # cameras send) from the same server, with and without `--audio`, alternating ROUNDS
  # times (the machine drifts; compare neighbours).
  read -r rate channels bitrate <<< "${SOUND:-16000 1 32k}"
  clip=$scratch/1080p30-4M.mp4
  long=$scratch/1080p30-4M-20min.mp4
  av=$scratch/1080p30-4M-20min-aac-$rate-$channels-$bitrate.mp4
  if [ ! -s "$long" ]; then
    ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=60" \
      -c:v libx264 -preset veryfast -profile:v high -b:v 4M -maxrate 4M -bufsize 8M -g 60 -bf 0 \
      -pix_fmt yuv420p "$clip"
    ffmpeg -hide_banner -loglevel error -y -stream_loop 19 -i "$clip" -c copy "$long"
  fi
  if [ ! -s "$av" ]; then
    ffmpeg -hide_banner -loglevel error -y -i "$long" -f lavfi -i "sine=frequency=440:sample_rate=$rate:duration=1200" \
      -map 0:v -map 1:a -c:v copy -c:a aac -b:a "$bitrate" -ac "$channels" -shortest "$av"
  fi
  port=18655
  # NODELAY=1: the camera sends each packet at once (see BENCHMARKS.md, "Recording CPU with
  # the camera's sound").
  /usr/bin/python3 tests/rtsp_server.py --port $port ${NODELAY:+--nodelay} --mount "/av=$av,audio=file" \
    > "$scratch/server.log" 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  sleep 2
  for round in $(seq "${ROUNDS:-3}"); do
    for flag in "" --audio; do
      echo "round $round ${flag:-video only}:"
      $bin bench ingest --url "rtsp://127.0.0.1:$port/av" --streams "${STREAMS:-32}" \
        --seconds "${SECONDS_MEASURED:-60}" --data-dir "$scratch/ingest-audio" $flag 2>>"$scratch/ingest.log"
    done
  done
  kill $server 2>/dev/null || true
fi

if [ "$what" = all ] || [ "$what" = export ]; then
  $bin bench export --data-dir "$scratch/export" --hours 1 --runs 5
fi

if [ "$what" = all ] || [ "$what" = crypto ]; then
  # One core each, side by side: OpenSSL's AES-256-GCM and SHA-256 on 64 KiB blocks, then
  # ours, then OpenSSL again (the machine's speed drifts; compare with the nearer run).
  ossl() {
    openssl speed -seconds 3 -bytes 65536 -evp aes-256-gcm 2>/dev/null | grep -E '^AES-256-GCM' | sed 's/^/openssl: encrypt /'
    openssl speed -seconds 3 -bytes 65536 -decrypt -evp aes-256-gcm 2>/dev/null | grep -E '^AES-256-GCM' | sed 's/^/openssl: decrypt /'
    openssl speed -seconds 3 -bytes 65536 -evp sha256 2>/dev/null | grep -E '^sha256' | sed 's/^/openssl: /'
  }
  ossl
  $bin bench crypto --seconds 3
  ossl
fi

if [ "$what" = all ] || [ "$what" = detect ]; then
  $bin bench detect --file testdata/generated/back.mp4 --runs 5
fi

if [ "$what" = all ] || [ "$what" = redact ]; then
  # Preparing a clip for posting on one core (taskset): 30 s of 768x432 video without
  # B-frames, decoded, people, faces and text detected on a frame every 0.3 s, pixelated,
  # encoded again. The real person clip when ../shared/data has it, else the generated one
  # scaled to that size (no people: the detectors still run on every sampled frame).
  clip=$scratch/redact-768x432-30s.mp4
  if [ ! -s "$clip" ]; then
    if [ -s ../shared/data/one-by-one-person-detection.mp4 ]; then
      ffmpeg -hide_banner -loglevel error -y -ss 3 -t 30 -i ../shared/data/one-by-one-person-detection.mp4 -an \
        -c:v libx264 -preset veryfast -profile:v baseline -g 20 -bf 0 "$clip"
    else
      ffmpeg -hide_banner -loglevel error -y -stream_loop 3 -i testdata/generated/front.mp4 -t 30 -an \
        -vf scale=768:432 -c:v libx264 -preset veryfast -profile:v baseline -g 20 -bf 0 "$clip"
    fi
  fi
  taskset -c 0 $bin bench redact --file "$clip" --runs 3 2>&1 | grep -v OpenH264
fi

if [ "$what" = all ] || [ "$what" = objects ]; then
  # The detector side by side with ONNX Runtime's Python binding on the same model and
  # input (Python, ours, Python again: the machine's speed drifts), at 1 and 2 threads;
  # then one camera's whole analysis per clip, with motion gating.
  cache=${PORCHLIGHT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/porchlight}
  py=$cache/current/venv/bin/python
  person=testdata/generated/person-sub.mp4
  [ -s "$person" ] || person=testdata/generated/front-sub.mp4
  for th in 1 2; do
    $bin bench objects --file "$person" --runs 5 --threads $th --dump-input "$scratch/input.f32" >/dev/null
    $py scripts/models/ort_latency.py "$cache/current/centernet.onnx" "$scratch/input.f32" $th 50
    $bin bench objects --file "$person" --runs 50 --threads $th
    $py scripts/models/ort_latency.py "$cache/current/centernet.onnx" "$scratch/input.f32" $th 50
  done
  # Other real footage from a registry package: Debian opencv-doc's vtest.avi (pedestrians).
  vtest=/usr/share/doc/opencv-doc/examples/data/vtest.avi
  if [ ! -s $vtest ]; then
    sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd=sudo
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends opencv-doc >/dev/null
  fi
  [ -s $vtest.gz ] && [ ! -s $vtest ] && gunzip -k $vtest.gz
  for clip in testdata/generated/person-sub.mp4 ../shared/data/car-detection.mp4 "$scratch/vtest.mp4"; do
    if [ "$clip" = "$scratch/vtest.mp4" ] && [ -s $vtest ]; then
      [ -s "$clip" ] || ffmpeg -hide_banner -loglevel error -y -i $vtest \
        -c:v libx264 -preset veryfast -profile:v baseline -bf 0 -g 20 -pix_fmt yuv420p "$clip"
    fi
    if [ -s "$clip" ]; then $bin bench objects --file "$clip" --runs 1 --analysis | grep -v 'per frame'; fi
  done
fi

if [ "$what" = all ] || [ "$what" = recovery ]; then
  $bin bench recovery --data-dir "$scratch/recovery" --cameras 8 --hours 24 --runs 5
fi

if [ "$what" = all ] || [ "$what" = upload ]; then
  $bin bench upload --data-dir "$scratch/upload" --mib 2048 --concurrency 4
  $bin bench upload --data-dir "$scratch/upload" --mib 2048 --concurrency 16
  rm -rf "$scratch/upload"
fi

if [ "$what" = all ] || [ "$what" = timeline ]; then
  # One million events, seeded once per database and reused. Each database twice at
  # 2,000/s: with the server's timeline cache (its default) and with it off.
  for db in "sqlite:$scratch/timeline.db" pg; do
    if [ "$db" = pg ]; then
      start_pg
      psql -h 127.0.0.1 -p $pgport -U postgres -c 'create database bench' > /dev/null 2>&1 || true
      db="postgres://postgres@127.0.0.1:$pgport/bench"
    fi
    $bin bench timeline --database "$db" --rate 2000 --connections 32 --seconds 30
    $bin bench timeline --database "$db" --rate 2000 --connections 32 --seconds 30 --cache-mib 0
  done
  kill $pg; wait $pg 2>/dev/null || true
fi

if [ "$what" = all ] || [ "$what" = feed ]; then
  # The neighbourhood feed: 200,000 households and a million posts, seeded once per
  # database and reused; 8 km feeds of random households, one after another.
  $bin bench feed --database "sqlite:$scratch/feed.db"
  start_pg
  psql -h 127.0.0.1 -p $pgport -U postgres -c 'create database feed' > /dev/null 2>&1 || true
  $bin bench feed --database "postgres://postgres@127.0.0.1:$pgport/feed"
  kill $pg; wait $pg 2>/dev/null || true
fi

if [ "$what" = web ]; then
  # The web app in Debian's Chromium: click-to-first-frame for a 30 s 1080p clip, WebCrypto
  # decrypt throughput, first-screen size, live view (ui/e2e/web.perf.ts). The camera plays
  # 20 minutes (the 60 s file looped) so that it does not end during the run.
  clip=$scratch/1080p30-4M.mp4
  long=$scratch/1080p30-4M-20min.mp4
  if [ ! -s "$clip" ]; then
    ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=60" \
      -c:v libx264 -preset veryfast -profile:v high -b:v 4M -maxrate 4M -bufsize 8M -g 60 -bf 0 \
      -pix_fmt yuv420p "$clip"
  fi
  [ -s "$long" ] || ffmpeg -hide_banner -loglevel error -y -stream_loop 19 -i "$clip" -c copy "$long"
  clip=$long
  bash scripts/setup-ui.sh
  (cd ui && npm run --silent build >/dev/null)
  cargo build --release -q
  (cd ui && PORCHLIGHT_BIN=$PWD/../target/release/porchlight PORCHLIGHT_BENCH_CLIP=$clip npm run --silent perf -- e2e/web.perf.ts) 2>&1 | grep '^web:'
fi

if [ "$what" = scroll ]; then
  # The web app's timeline with 10,000 sealed events, scrolled top to bottom in Debian's
  # Chromium: frame intervals while pages load and rows decrypt (ui/e2e/timeline.perf.ts).
  bash scripts/setup-ui.sh
  (cd ui && npm run --silent build >/dev/null)
  cargo build --release -q
  (cd ui && PORCHLIGHT_BIN=$PWD/../target/release/porchlight npm run --silent perf -- e2e/timeline.perf.ts) 2>&1 | grep '^timeline:'
fi

if [ "$what" = agencies ]; then
  # A million households' homes and ten million log entries, kept in $scratch between runs.
  $bin bench agencies --database "sqlite:$scratch/agencies.db" --households 1000000 --entries 10000000
  start_pg
  psql -h 127.0.0.1 -p $pgport -U postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'bench_agencies'" | grep -q 1 ||
    psql -h 127.0.0.1 -p $pgport -U postgres -c 'CREATE DATABASE bench_agencies' > /dev/null
  $bin bench agencies --database "postgres://postgres@127.0.0.1:$pgport/bench_agencies" --households 1000000 \
    --entries "${PG_ENTRIES:-10000000}"
fi

if [ "$what" = alerts ]; then
  # Doorbell press to alert (a looped clip), then confirmed person track to alert: the real
  # person clip of ../shared/data when it is there, else the demo's street (Debian
  # opencv-doc's vtest.avi, people walking past), looped by stream copy and served by the
  # test RTSP server.
  $bin bench alerts --data-dir "$scratch/alerts" --presses 20
  person=testdata/generated/person-sub.mp4
  [ -s "$person" ] || person=testdata/generated/street-sub.mp4
  long=$scratch/alerts-$(basename "$person" .mp4)-loop.mp4
  [ -s "$long" ] || ffmpeg -hide_banner -loglevel error -y -stream_loop 14 -i "$person" -c copy "$long"
  port=18655
  /usr/bin/python3 tests/rtsp_server.py --port $port --mount "/cam=$long" > "$scratch/alerts-rtsp.log" 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  sleep 2
  $bin bench alerts --data-dir "$scratch/alerts-person" --person-from "rtsp://127.0.0.1:$port/cam" --tracks 20
  kill $server 2>/dev/null || true
fi

if [ "$what" = history ]; then
  # The day view over 24 h of 1080p: 5 minutes recorded from a 4 Mbit/s 1080p30 clip (a key
  # frame every 2 s), the 24 hours before filled with copies of it (about 43 GB), then 20
  # moments. The scratch copy is removed afterwards.
  clip=$scratch/hd-1080p.mp4
  [ -s "$clip" ] || ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1920x1080:rate=30 -t 60 \
    -c:v libx264 -preset veryfast -b:v 4M -maxrate 4M -bufsize 8M -g 60 -pix_fmt yuv420p -profile:v main -bf 0 "$clip"
  $bin bench history --data-dir "$scratch/history" --clip "$clip" --minutes 5 --moments 20 --backfill-hours 24
  rm -rf "$scratch/history"
fi

if [ "$what" = grid ]; then
  # The live grid in Debian's Chromium: four 640×360 cameras, first frame of all four and
  # the browser's CPU while they play (ui/e2e/grid.perf.ts).
  bash scripts/setup-ui.sh
  (cd ui && npm run --silent build >/dev/null)
  cargo build --release -q
  (cd ui && PORCHLIGHT_BIN=$PWD/../target/release/porchlight npm run --silent perf -- e2e/grid.perf.ts) 2>&1 | grep '^grid:'
fi

if [ "$what" = talk ]; then
  # Mouth to the camera's speaker: the test RTSP server as an ONVIF camera whose backchannel
  # appends what it plays to a file; 20 phrases of 300 ms, one a second.
  speaker=$scratch/talk-speaker.raw
  rm -f "$speaker"
  port=18656
  /usr/bin/python3 tests/rtsp_server.py --port $port \
    --mount "/door=testdata/generated/front-sub-loop.mp4,audio=pcmu,backchannel=$speaker" > "$scratch/talk-rtsp.log" 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  sleep 2
  $bin bench talk --data-dir "$scratch/talk" --camera "rtsp://127.0.0.1:$port/door" --speaker "$speaker" --phrases 20
  kill $server 2>/dev/null || true
fi

if [ "$what" = mouth ]; then
  # Talking from Debian's Chromium: phrases from the fake microphone to the test camera's
  # speaker file (ui/e2e/mouth.perf.ts).
  bash scripts/setup-ui.sh
  (cd ui && npm run --silent build >/dev/null)
  cargo build --release -q
  (cd ui && PORCHLIGHT_BIN=$PWD/../target/release/porchlight npm run --silent perf -- e2e/mouth.perf.ts) 2>&1 | grep '^mouth:'
fi

if [ "$what" = avsync ]; then
  # Live view's sound against its picture in Debian's Chromium (ui/e2e/avsync.perf.ts).
  bash scripts/setup-ui.sh
  (cd ui && npm run --silent build >/dev/null)
  cargo build --release -q
  (cd ui && PORCHLIGHT_BIN=$PWD/../target/release/porchlight npm run --silent perf -- e2e/avsync.perf.ts) 2>&1 | grep '^avsync:'
fi

if [ "$what" = sound ]; then
  # Live view's sound in Debian's Chromium: the camera's tone switches heard in the browser,
  # against the camera's own log of them (ui/e2e/sound.perf.ts).
  bash scripts/setup-ui.sh
  (cd ui && npm run --silent build >/dev/null)
  cargo build --release -q
  (cd ui && PORCHLIGHT_BIN=$PWD/../target/release/porchlight npm run --silent perf -- e2e/sound.perf.ts) 2>&1 | grep '^sound:'
fi
