#!/usr/bin/env bash
# Install the Homeroom agent for the current user and enrol this device.
# Usage: install-agent.sh TOKEN [DEVICE-NAME]
set -euo pipefail
token=${1:?"usage: $0 TOKEN [DEVICE-NAME] (get the token from IT: homeroom-hub token create)"}
name=${2:-$(hostname)}
here=$(cd "$(dirname "$0")" && pwd)
python3 -m pip install --user --quiet "${HOMEROOM_PACKAGE:-homeroom}"
"$HOME/.local/bin/homeroom-agent" enroll "$token" --name "$name"
mkdir -p "$HOME/.config/systemd/user"
cp "$here/homeroom-agent.service" "$HOME/.config/systemd/user/"
systemctl --user daemon-reload
systemctl --user enable --now homeroom-agent
echo "Homeroom agent installed and running as $(whoami) on $name."
