#!/bin/sh
# Install rightsizer-agent.service and its settings file /etc/rightsizer/agent.env.
#
# The settings file names the sink and may hold AWS keys, so it is installed mode 0600, owned by root:
# systemd reads an EnvironmentFile as root before it starts the service's (dynamic) user, so the agent
# itself never needs to read it. An existing agent.env is kept (only its mode is tightened to 0600).
#
#   sudo deploy/systemd/install.sh            # then: sudoedit /etc/rightsizer/agent.env
#   DESTDIR=/tmp/root deploy/systemd/install.sh   # stage into another root (packaging, tests)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=${DESTDIR:-}
env_file="$root/etc/rightsizer/agent.env"

install -d -m 0755 "$root/etc/rightsizer" "$root/etc/systemd/system"
umask 077
if [ -e "$env_file" ]; then
    chmod 0600 "$env_file"
    echo "kept $env_file (mode 0600)"
else
    install -m 0600 "$here/agent.env" "$env_file"
    echo "installed $env_file (mode 0600): set RIGHTSIZER_SINK there"
fi
if [ "$(id -u)" = 0 ]; then
    chown root:root "$env_file"
fi
install -m 0644 "$here/rightsizer-agent.service" "$root/etc/systemd/system/rightsizer-agent.service"
echo "installed $root/etc/systemd/system/rightsizer-agent.service"
