"""The HTTP feature server (`fsql serve`): Feast's protocol over one FeatureStore."""
