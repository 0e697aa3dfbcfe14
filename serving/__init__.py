"""The plumbing the numbered servers share, one concern a module, so that each script shows its strategy only."""
