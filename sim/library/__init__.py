"""The ATOP case library: shipped data tables and the builder of scenarios from them."""
