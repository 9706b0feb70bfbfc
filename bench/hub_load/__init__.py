"""The hub under a school's load: thousands of simulated devices and watching consoles (issue 9)."""
