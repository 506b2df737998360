#!/usr/bin/env bash
# Installs what Porchlight's build, demo and tests need from Debian's packages.
# Idempotent: when every package is already installed it returns in well under a second.
set -euo pipefail

debs=(
  nasm                          # openh264's assembly paths (detection issue)
  cmake                         # builds the bundled libopus (talk: the agent decodes the browser's Opus)
  ffmpeg                        # ffprobe in tests, test clip generation
  gstreamer1.0-tools
  gstreamer1.0-rtsp             # the RTSP server library
  gir1.2-gst-rtsp-server-1.0    # its Python bindings' typelib
  python3-gst-1.0               # GStreamer from Python (the test RTSP server)
  python3-gi
  python3-cryptography          # an independent check of the crypto test vectors
  python3-venv                  # the model step's pinned Python packages (scripts/setup-models.sh)
  gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good     # rtph264pay, qtdemux
  gstreamer1.0-plugins-bad      # h264parse, h265parse
  gstreamer1.0-plugins-ugly
  gstreamer1.0-libav
  mosquitto                     # the MQTT broker the event tests publish to
  mosquitto-clients             # mosquitto_sub/_pub, the tests' MQTT peers
  postgresql                    # the server's metadata tests run on it too (started by the tests)
  wrk                           # the timeline benchmark's load generator
  chromium                      # plays exported MP4s in the tests (never a downloaded browser)
  fonts-dejavu-core
  opencv-doc                    # vtest.avi, people walking past a fixed camera: the demo's street without ../shared/data
)

missing=()
for p in "${debs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -q
  $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
