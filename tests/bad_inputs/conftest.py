"""The corpus files are inputs, not tests: keep the spinerules pytest plugin out of them."""

collect_ignore_glob = ["rules/*", "patients/*", "cases/*"]
