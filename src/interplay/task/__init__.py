"""The synthetic reasoning task: graph sampling, rendering, parsing and process verification."""
