#!/usr/bin/env bash
# Generates the synthetic test clips under testdata/generated/ with ffmpeg (idempotent).
# Real third-party clips live in ../shared/data and are used where present.
set -euo pipefail
cd "$(dirname "$0")/.."
out=testdata/generated
mkdir -p "$out"
ff() { ffmpeg -hide_banner -loglevel error -y "$@"; }

# front: 720p25 H.264 High with B-frames (exercises decode-time reconstruction), 2 s GOP.
[ -s "$out/front.mp4" ] || ff -f lavfi -i "testsrc2=size=1280x720:rate=25:duration=20" \
  -c:v libx264 -preset veryfast -profile:v high -bf 2 -g 50 -keyint_min 50 -sc_threshold 0 \
  -b:v 1500k -pix_fmt yuv420p -movflags +faststart "$out/front.mp4"

# front-loop: front repeated for 5 minutes by stream copy (no re-encoding), for tests whose
# camera must not stop mid-test (the RTSP server plays a file once, then goes silent).
[ -s "$out/front-loop.mp4" ] || ff -stream_loop 14 -i "$out/front.mp4" -c copy -movflags +faststart "$out/front-loop.mp4"

# front-sub: front's picture as a camera's sub-stream would carry it: 640x360 Baseline,
# no B-frames (what detection decodes), 2 s GOP.
[ -s "$out/front-sub.mp4" ] || ff -i "$out/front.mp4" -vf scale=640:360 -c:v libx264 -preset veryfast \
  -profile:v baseline -g 50 -keyint_min 50 -sc_threshold 0 -b:v 400k -pix_fmt yuv420p "$out/front-sub.mp4"

# front-sub-loop: front-sub repeated for 5 minutes by stream copy: the camera the
# neighbourhood and agency end-to-end tests record when ../shared/data is absent. Baseline
# like a real sub-stream, so the agent's redaction decodes it (OpenH264 cannot decode the
# B-frames of front-loop), exercising the same path as the real clip.
[ -s "$out/front-sub-loop.mp4" ] || ff -stream_loop 14 -i "$out/front-sub.mp4" -c copy -movflags +faststart "$out/front-sub-loop.mp4"

# The same for the real person clip in ../shared/data, when it is there: it is Main profile
# with B-frames, like many cameras' main streams.
person=../shared/data/one-by-one-person-detection.mp4
[ ! -s "$person" ] || [ -s "$out/person-sub.mp4" ] || ff -i "$person" -an -vf scale=640:360 -c:v libx264 \
  -preset veryfast -profile:v baseline -g 20 -keyint_min 20 -sc_threshold 0 -b:v 400k -pix_fmt yuv420p \
  "$out/person-sub.mp4"

# back: 640x360 15 fps H.264 baseline (no B-frames), 2 s GOP.
[ -s "$out/back.mp4" ] || ff -f lavfi -i "testsrc=size=640x360:rate=15:duration=20" \
  -c:v libx264 -preset veryfast -profile:v baseline -g 30 -keyint_min 30 -sc_threshold 0 \
  -b:v 500k -pix_fmt yuv420p "$out/back.mp4"

# h265: 640x360 15 fps HEVC tagged hvc1, 1 s closed GOP (IDR key frames, as cameras send;
# retina marks only IDR pictures as random access points, not open-GOP CRA pictures).
[ -s "$out/h265.mp4" ] || ff -f lavfi -i "testsrc2=size=640x360:rate=15:duration=10" \
  -c:v libx265 -preset veryfast -x265-params "keyint=15:min-keyint=15:bframes=0:open-gop=0:log-level=error" \
  -tag:v hvc1 -pix_fmt yuv420p "$out/h265.mp4"

# paramchange: MPEG-TS whose resolution changes from 640x360 to 320x240 after 4 s, with
# new SPS/PPS in band, as a camera does when its settings change.
if [ ! -s "$out/paramchange.ts" ]; then
  ff -f lavfi -i "testsrc=size=640x360:rate=15:duration=4" -c:v libx264 -preset veryfast \
    -profile:v baseline -g 15 -pix_fmt yuv420p -f mpegts "$out/pc-a.ts"
  ff -f lavfi -i "testsrc2=size=320x240:rate=15:duration=4" -c:v libx264 -preset veryfast \
    -profile:v baseline -g 15 -pix_fmt yuv420p -f mpegts "$out/pc-b.ts"
  printf "file 'pc-a.ts'\nfile 'pc-b.ts'\n" > "$out/pc-list.txt"
  ff -f concat -safe 0 -i "$out/pc-list.txt" -c copy -f mpegts "$out/paramchange.ts"
  rm -f "$out/pc-a.ts" "$out/pc-b.ts" "$out/pc-list.txt"
fi

# street: real footage from a registry package for the demo without ../shared/data: Debian
# opencv-doc's vtest.avi (768x576, people walking past a fixed camera), as a camera would
# send it: the main stream at its own size, a 480x360 sub-stream for analysis, both H.264
# without B-frames, 2 s GOP at its 10 fps.
vtest=/usr/share/doc/opencv-doc/examples/data/vtest.avi
if [ ! -s "$vtest" ] && [ -s "$vtest.gz" ]; then
  vtest_tmp=$(mktemp -d)
  gunzip -c "$vtest.gz" > "$vtest_tmp/vtest.avi"
  vtest=$vtest_tmp/vtest.avi
fi
if [ -s "$vtest" ]; then
  [ -s "$out/street.mp4" ] || ff -i "$vtest" -an -c:v libx264 -preset veryfast -profile:v baseline -g 20 \
    -keyint_min 20 -sc_threshold 0 -b:v 1200k -pix_fmt yuv420p "$out/street.mp4"
  [ -s "$out/street-sub.mp4" ] || ff -i "$vtest" -an -vf scale=480:360 -c:v libx264 -preset veryfast \
    -profile:v baseline -g 20 -keyint_min 20 -sc_threshold 0 -b:v 400k -pix_fmt yuv420p "$out/street-sub.mp4"
else
  echo "make-testdata: opencv-doc's vtest.avi is missing (make setup installs it): the demo uses test patterns" >&2
fi
