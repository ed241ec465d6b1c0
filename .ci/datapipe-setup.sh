#!/usr/bin/env bash
# Datapipe test dependencies: system ffmpeg/ffprobe and nats-server (Debian packages). Idempotent; sourced or run
# by .ci/run before the tests.
if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1 || ! command -v nats-server >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends ffmpeg nats-server wordnet-base
fi
