#!/bin/sh
# Installs the system packages gpt2-edge builds against (Debian/Ubuntu): libzstd-dev and pkg-config.
# Does nothing when they are already there; uses sudo only when not running as root.
set -e
if pkg-config --exists libzstd 2>/dev/null; then exit 0; fi
SUDO=""
[ "$(id -u)" = "0" ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq libzstd-dev pkg-config
