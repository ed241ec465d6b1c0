#!/usr/bin/env bash
# Test dependencies: system ffmpeg/ffprobe and nats-server (datapipe, video I/O) and wordnet-base (ERNIE corpus
# preparation) (Debian packages). Idempotent; sourced or run
# by .ci/run before the tests.
if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1 || ! command -v nats-server >/dev/null 2>&1 \
  || [ ! -f /usr/share/wordnet/data.noun ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends ffmpeg nats-server wordnet-base
fi
