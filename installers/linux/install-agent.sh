#!/usr/bin/env bash
# Install the Homeroom agent for the current user, in a virtual environment of its own,
# enrol this device, and start the agent as a systemd user service.
# Usage: install-agent.sh TOKEN [DEVICE-NAME]
# Wheels come from HOMEROOM_WHEELS (default: the checkout's dist/, made by `make wheels`);
# the agent's dependencies come from the package index.
set -euo pipefail
token=${1:?"usage: $0 TOKEN [DEVICE-NAME] (get the token from IT: homeroom-hub token create)"}
name=${2:-$(hostname)}
here=$(cd "$(dirname "$0")" && pwd)
wheels=${HOMEROOM_WHEELS:-$here/../../dist}
if ! compgen -G "$wheels/homeroom_agent-*.whl" >/dev/null; then
  echo "No homeroom-agent wheel in $wheels. Build the wheels first: make wheels" \
       "(or set HOMEROOM_WHEELS to the folder that holds them)." >&2
  exit 1
fi
# Never the shared site-packages: other projects also have modules called agent and hub.
env_dir=${XDG_DATA_HOME:-$HOME/.local/share}/homeroom-agent/venv
python3 -m venv --clear "$env_dir"
"$env_dir/bin/pip" install --quiet --find-links "$wheels" homeroom-agent
mkdir -p "$HOME/.local/bin"
ln -sf "$env_dir/bin/homeroom-agent" "$HOME/.local/bin/homeroom-agent"
"$HOME/.local/bin/homeroom-agent" enroll "$token" --name "$name"
mkdir -p "$HOME/.config/systemd/user"
cp "$here/homeroom-agent.service" "$HOME/.config/systemd/user/"
systemctl --user daemon-reload
systemctl --user enable --now homeroom-agent
echo "Homeroom agent installed in $env_dir and running as $(whoami) on $name."
