#!/usr/bin/env bash
# Stop and remove the Homeroom agent for the current user: its service, its environment
# and its folder (the device key is deleted too).
set -euo pipefail
systemctl --user disable --now homeroom-agent 2>/dev/null || true
rm -f "$HOME/.config/systemd/user/homeroom-agent.service"
systemctl --user daemon-reload 2>/dev/null || true
rm -f "$HOME/.local/bin/homeroom-agent"
rm -rf "${XDG_DATA_HOME:-$HOME/.local/share}/homeroom-agent"
rm -rf "${XDG_CONFIG_HOME:-$HOME/.config}/homeroom-agent"
echo "Homeroom agent removed. Ask IT to remove this device from the hub as well."
