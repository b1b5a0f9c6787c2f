"""The CAD core: the projection of the log into current state, and the commands that change it."""
