#!/usr/bin/python3
"""A real RTSP server for Porchlight's integration tests and benchmarks.

Serves MP4/MPEG-TS files through GStreamer's gst-rtsp-server without re-encoding, one
pipeline per client. Run with Debian's python3 (python3-gst-1.0, gir1.2-gst-rtsp-server-1.0).

    rtsp_server.py --port 8554 --mount /front=front.mp4 --mount /wrap=front.mp4,ts_offset=4294697295 \
        --mount /audio=audio --mount /secret=front.mp4,user=alice,password=s3cret

Mount options (comma-separated after the file): codec=h264|h265 (default: from the file
name: h265 if it contains "265"), shared=1 (one pipeline for all clients), ts_offset=N (initial RTP timestamp, to force a wrap),
user=U,password=P (Basic authentication; a server with any such mount requires
credentials on every mount, since gst-rtsp-server answers 404 rather than 401 to an
anonymous client when anonymous access exists at all), audio=pcmu|pcma|opus|aac (an audio
track beside the video: a tone sequence, 440 Hz and 880 Hz alternating every second;
tone_log=PATH appends each switch's Unix time in ms and new frequency to PATH; audio=file
sends the file's own AAC track beside its picture, audio=file-pcmu (or file-opus…) that track
decoded and sent in that codec),
backchannel=PATH (an ONVIF camera with a speaker: the server is gst-rtsp-server's ONVIF
server, the mount offers a PCMU backchannel to clients that send `Require:
www.onvif.org/ver20/backchannel`, and what arrives on it is appended to PATH as raw 16-bit
little-endian 8 kHz mono PCM, as it arrives, session after session). The special file `audio` serves an
audio-only stream (no video). Prints "ready <port>" on stdout once listening.
"""
import argparse
import signal
import socket
import sys
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


# G.711 in 20 ms packets, as cameras send it (the payloader would otherwise fill its MTU:
# 175 ms packets, each sent at its first sample's time, where a camera sends a packet once
# its last sample is captured).
AUDIO = {
    "pcmu": "audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay1 pt=0 max-ptime=20000000",
    "pcma": "audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay name=pay1 pt=8 max-ptime=20000000",
    "opus": "audio/x-raw,rate=48000,channels=1 ! opusenc frame-size=20 ! rtpopuspay name=pay1 pt=97",
    "aac": "audio/x-raw,rate=16000,channels=1 ! avenc_aac ! rtpmp4gpay name=pay1 pt=98",
}


def tone_sequence():
    """440 Hz and 880 Hz alternating every second (a controller switches the frequency)."""
    return "audiotestsrc name=tone is-live=true wave=sine freq=440 volume=0.5 ! audioconvert ! audioresample"


def launch_line(path, opts):
    if path == "audio":
        return "( audiotestsrc is-live=true ! audioconvert ! alawenc ! rtppcmapay name=pay0 pt=8 )"
    codec = opts.get("codec") or ("h265" if "265" in path else "h264")
    demux = "tsdemux" if path.endswith(".ts") else "qtdemux"
    pay_opts = ""
    if "ts_offset" in opts:
        pay_opts += f" timestamp-offset={int(opts['ts_offset'])}"
    audio = ""
    # A shared pipeline runs before a client sets up each of its tracks, and a track nobody
    # has set up is not linked: the tee keeps its branch flowing (a queue whose output is not
    # linked stops for good), as a camera's encoder does, so that the track has data (and
    # gst-rtsp-server its segment) when a second client sets it up.
    keep = " ! tee allow-not-linked=true" if opts.get("shared") == "1" else ""
    if opts.get("audio", "").startswith("file"):
        # The file's own sound beside its picture, from one demuxer: AAC as it is stored
        # (audio=file), or decoded and sent as another codec (audio=file-pcmu, file-opus…).
        if opts["audio"] == "file":
            sound = f"aacparse{keep} ! rtpmp4gpay name=pay1 pt=98"
        else:
            enc, pay = AUDIO[opts["audio"][5:]].rsplit(" ! ", 1)
            sound = f"decodebin ! audioconvert ! audioresample ! {enc}{keep} ! {pay}"
        return (
            f"( filesrc location={path} ! {demux} name=d d.video_0 ! queue ! {codec}parse config-interval=-1{keep} "
            f"! rtp{codec}pay name=pay0 pt=96{pay_opts} d.audio_0 ! queue ! {sound} )"
        )
    if "audio" in opts:
        audio = f" {tone_sequence()} ! {AUDIO[opts['audio']]}"
    return (
        f"( filesrc location={path} ! {demux} ! {codec}parse config-interval=-1 "
        f"! rtp{codec}pay name=pay0 pt=96{pay_opts}{audio} )"
    )


def backchannel_line(path):
    return (
        '( capsfilter caps="application/x-rtp, media=audio, payload=0, clock-rate=8000, encoding-name=PCMU" '
        "name=depay_backchannel ! rtppcmudepay ! mulawdec ! audioconvert ! audio/x-raw,format=S16LE "
        f"! filesink location={path} append=true buffer-mode=unbuffered sync=false async=false )"
    )


class Tones:
    """The tone sequence every audio track plays: one clock for all of them, so that every
    client hears the switch between 440 and 880 Hz at the same moment, and each switch's
    wall-clock time (Unix ms) and new frequency are appended to `log` when given (to measure
    how late the sound arrives elsewhere)."""

    def __init__(self, log):
        self.log, self.freq, self.tones = log, 440, []
        GLib.timeout_add(1000, self.flip)

    def flip(self):
        self.freq = 1320 - self.freq
        for t in self.tones:
            t.set_property("freq", self.freq)
        if self.log:
            with open(self.log, "a") as f:
                f.write(f"{time.time() * 1000:.1f} {self.freq}\n")
        return True

    def configure(self, _factory, media):
        tone = media.get_element().get_by_name("tone")
        if tone is not None:
            tone.set_property("freq", self.freq)
            self.tones.append(tone)


def connected(client, nodelay):
    client.connect("pre-play-request", ignore_range)
    if nodelay:
        client.get_connection().get_write_socket().set_option(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def ignore_range(_client, ctx):
    ctx.request.remove_header(GstRtsp.RTSPHeaderField.RANGE, -1)
    return GstRtsp.RTSPStatusCode.OK


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mount", action="append", default=[])
    ap.add_argument("--nodelay", action="store_true",
                    help="send each RTP packet at once (TCP_NODELAY) instead of holding a small one "
                    "until the client acknowledges the one before (Nagle's rule, the default)")
    args = ap.parse_args()
    Gst.init(None)
    onvif = any("backchannel=" in m for m in args.mount)
    server = GstRtspServer.RTSPOnvifServer() if onvif else GstRtspServer.RTSPServer()
    server.set_service(str(args.port))
    server.set_address("127.0.0.1")
    mounts = server.get_mount_points()
    # gst-rtsp-server serves every client from one thread unless told otherwise; with dozens
    # of cameras connecting at once, DESCRIBE requests would queue for seconds.
    server.get_thread_pool().set_max_threads(256)

    auth = GstRtspServer.RTSPAuth()
    any_auth = any("user=" in m for m in args.mount)
    if not any_auth:
        anon = GstRtspServer.RTSPToken()
        anon.set_string("media.factory.role", "anonymous")
        auth.set_default_token(anon)
    for m in args.mount:
        name, _, spec = m.partition("=")
        path, *rest = spec.split(",")
        opts = dict(kv.split("=", 1) for kv in rest)
        if "backchannel" in opts:
            factory = GstRtspServer.RTSPOnvifMediaFactory()
            factory.set_media_gtype(GstRtspServer.RTSPOnvifMedia)
            factory.set_backchannel_launch(backchannel_line(opts["backchannel"]))
        else:
            factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch_line(path, opts))
        if "audio" in opts:
            factory.connect("media-configure", Tones(opts.get("tone_log")).configure)
        # One pipeline per client by default (each starts at the file's beginning); with
        # shared=1 all clients share one, so 64 clients cost the server one demuxer.
        factory.set_shared(opts.get("shared") == "1")
        perms = GstRtspServer.RTSPPermissions()
        if "user" in opts:
            role = "user-" + opts["user"]
            token = GstRtspServer.RTSPToken()
            token.set_string("media.factory.role", role)
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(opts["user"], opts["password"]), token)
            perms.add_role_from_structure(Gst.Structure.from_string(
                f"{role}, media.factory.access=(boolean)true, media.factory.construct=(boolean)true")[0])
        else:
            perms.add_role_from_structure(Gst.Structure.from_string(
                "anonymous, media.factory.access=(boolean)true, media.factory.construct=(boolean)true")[0])
        factory.set_permissions(perms)
        mounts.add_factory(name, factory)
    if any_auth:
        server.set_auth(auth)
    # A camera is live: it plays from now whatever range a PLAY asks for. gst-rtsp-server
    # would seek a shared file pipeline back to the start for every client's `Range:
    # npt=0.000-` (retina sends it), under the clients already playing (their timestamps
    # jumping back by however long the pipeline had played).
    server.connect("client-connected", lambda _server, client: connected(client, args.nodelay))
    if server.attach(None) == 0:
        print(f"cannot listen on port {args.port}", file=sys.stderr)
        sys.exit(1)
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    print(f"ready {args.port}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
