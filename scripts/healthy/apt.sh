#!/usr/bin/env bash
# apt-get update, installs of the packages the other scripts need, and reinstalls of a few
# common packages; plus the part of apt's and dpkg's own logs that these runs wrote.
. "$(dirname "$0")/common.sh"
term_start=$(wc -c </var/log/apt/term.log 2>/dev/null || echo 0)
dpkg_start=$(wc -c </var/log/dpkg.log 2>/dev/null || echo 0)
hist_start=$(wc -c </var/log/apt/history.log 2>/dev/null || echo 0)
capture apt/apt-get-update.log $APT update
capture apt/apt-get-install-services.log $APT install -y --no-install-recommends \
  nginx-light redis-server redis-tools docker.io busybox-static
capture apt/apt-get-install-reinstall.log $APT install --reinstall -y \
  curl less jq tree zip unzip bzip2 xz-utils file rsync procps psmisc
capture apt/apt-get-install-tools.log $APT install -y --no-install-recommends \
  sqlite3 lua5.4 tcl bc dc ed units
tail -c +$((term_start + 1)) /var/log/apt/term.log >"$OUT/apt/term.log" || true
tail -c +$((dpkg_start + 1)) /var/log/dpkg.log >"$OUT/apt/dpkg.log" || true
tail -c +$((hist_start + 1)) /var/log/apt/history.log >"$OUT/apt/history.log" || true
