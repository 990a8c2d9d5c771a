"""Tests of the sync engine's pure planning core: mapping rules and the plan."""
