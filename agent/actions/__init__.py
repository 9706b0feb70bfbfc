"""What the agent does for staff, one concern per module; `agent.runtime` dispatches to them."""
