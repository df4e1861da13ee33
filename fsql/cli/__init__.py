"""The `fsql` command line: thin click commands over the FeatureStore API."""
