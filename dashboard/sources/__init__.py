"""Where canonical tables come from: the bundled sample, the dataset store, a SQL database."""
