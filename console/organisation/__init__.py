"""The organisation's own tool, `homeroom-org`: the key that certifies hubs and staff, kept
on an admin's machine or a USB stick, never on the hub."""
