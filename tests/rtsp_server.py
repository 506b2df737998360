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
anonymous client when anonymous access exists at all). The special file `audio`
serves an audio-only stream (no video). Prints "ready <port>" on stdout once listening.
"""
import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def launch_line(path, opts):
    if path == "audio":
        return "( audiotestsrc is-live=true ! audioconvert ! alawenc ! rtppcmapay name=pay0 pt=8 )"
    codec = opts.get("codec") or ("h265" if "265" in path else "h264")
    demux = "tsdemux" if path.endswith(".ts") else "qtdemux"
    pay_opts = ""
    if "ts_offset" in opts:
        pay_opts += f" timestamp-offset={int(opts['ts_offset'])}"
    return (
        f"( filesrc location={path} ! {demux} ! {codec}parse config-interval=-1 "
        f"! rtp{codec}pay name=pay0 pt=96{pay_opts} )"
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mount", action="append", default=[])
    args = ap.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
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
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch_line(path, opts))
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
