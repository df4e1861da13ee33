"""Project and profile configuration, env_var() rendering and secret scrubbing."""
