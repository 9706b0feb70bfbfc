"""The client side of the wire, shared by agent and console: dial, prove, stay connected.

asyncio and websockets over `protocol/`. It never listens and never imports the hub,
the agent or the console (checked by `make lint`).
"""
