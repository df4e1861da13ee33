"""Running compiled plans: building view tables and training sets on an adapter."""
