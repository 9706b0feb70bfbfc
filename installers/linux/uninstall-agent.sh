#!/usr/bin/env bash
# Stop and remove the Homeroom agent for the current user (its key is deleted too).
set -euo pipefail
systemctl --user disable --now homeroom-agent 2>/dev/null || true
rm -f "$HOME/.config/systemd/user/homeroom-agent.service"
systemctl --user daemon-reload 2>/dev/null || true
rm -rf "${XDG_CONFIG_HOME:-$HOME/.config}/homeroom-agent"
echo "Homeroom agent removed. Ask IT to remove this device from the hub as well."
